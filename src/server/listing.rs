//! The datasets as a request's caller sees them: the listing (each dataset described by
//! the database), one dataset by name. What the JSON routes and the web pages both show.

use super::auth::Caller;
use super::{ApiError, AppState};
use crate::catalog::Dataset;
use crate::escape::OneLine;
use crate::source::ColumnInfo;

/// The datasets the request's caller (if tokens are in use) may read, in listing order.
pub(super) async fn readable_datasets(
    state: &AppState,
    caller: Option<&Caller>,
) -> Result<Vec<Dataset>, ApiError> {
    let mut datasets = state
        .catalog()
        .datasets(state.source())
        .await
        .map_err(|error| ApiError::database(None, error))?;
    datasets.retain(|dataset| caller.is_none_or(|caller| caller.may_read(&dataset.name)));
    Ok(datasets)
}

/// A dataset as the listings show it: with its columns as the database describes them
/// now, or why it could not.
pub(super) struct Listed {
    pub dataset: Dataset,
    pub columns: Result<Vec<ColumnInfo>, ApiError>,
}

/// The datasets the caller may read, each described by the database. One that cannot be
/// described is listed with its error; the database being down fails the whole listing.
pub(super) async fn listing(
    state: &AppState,
    caller: Option<&Caller>,
) -> Result<Vec<Listed>, ApiError> {
    let datasets = readable_datasets(state, caller).await?;
    let mut listing = Vec::with_capacity(datasets.len());
    for dataset in datasets {
        listing.push(describe(state, dataset).await?);
    }
    Ok(listing)
}

/// `dataset` with its columns, or why they cannot be described (an error only when the
/// database is down).
pub(super) async fn describe(state: &AppState, dataset: Dataset) -> Result<Listed, ApiError> {
    let described = state
        .source()
        .describe(&dataset.query.to_sql(), dataset.params.len())
        .await;
    let columns = match described {
        Ok(columns) => Ok(columns),
        // The database being down (or a standby's replay getting in the way) is the
        // request's failure, not one dataset's.
        Err(error) if error.is_unavailable() || error.is_recovery_conflict() => {
            return Err(ApiError::database(None, error));
        }
        Err(error) => {
            let error = ApiError::database(Some(&dataset.name), error);
            tracing::warn!(
                dataset = %OneLine(&dataset.name),
                error = %OneLine(&error.to_string()),
                "cannot describe a dataset"
            );
            Err(error)
        }
    };
    Ok(Listed { dataset, columns })
}

/// The dataset called `name`, if the caller may read it: 404 when there is none, 403 when
/// the caller's token does not cover it.
pub(super) async fn find_readable(
    state: &AppState,
    caller: Option<&Caller>,
    name: &str,
) -> Result<Dataset, ApiError> {
    let dataset = state
        .catalog()
        .find(state.source(), name)
        .await
        .map_err(|error| ApiError::database(None, error))?
        .ok_or_else(|| ApiError::UnknownDataset {
            name: name.to_owned(),
        })?;
    match caller {
        Some(caller) if !caller.may_read(&dataset.name) => Err(ApiError::Forbidden {
            token: caller.name.clone(),
            dataset: dataset.name.clone(),
        }),
        _ => Ok(dataset),
    }
}
