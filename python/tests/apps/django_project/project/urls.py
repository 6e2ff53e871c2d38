from django.urls import path

from project import views

urlpatterns = [path("export/<str:name>", views.export)]
