//! A real nginx (Debian's package) in front of one rowpipe server, or balancing several, on
//! a loopback port, for tests of what a client behind a reverse proxy sees.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::process::poll_until;
use super::server::free_local_addr;

/// How nginx talks to rowpipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxySettings {
    /// Only `proxy_pass`: nginx's defaults, HTTP/1.0 to the upstream and buffering on.
    Defaults,
    /// The settings the README documents for rowpipe.
    Documented,
}

/// The `location` settings the README documents (kept word for word in step with it; a
/// test checks that the README holds them).
pub const DOCUMENTED_SETTINGS: &str = "\
proxy_http_version 1.1;
proxy_set_header Connection \"\";
proxy_buffering off;
proxy_read_timeout 1h;";

/// The parameters of each `server` line in the README's `upstream` block for several
/// rowpipe servers.
pub const DOCUMENTED_SERVER_PARAMETERS: &str = "max_fails=1 fail_timeout=10s";

/// The rest of the README's `upstream` block: connections to the servers kept open (which
/// `proxy_set_header Connection ""` is for).
pub const DOCUMENTED_UPSTREAM_SETTINGS: &str = "keepalive 16;";

/// The `location` settings the README adds for several servers, beside
/// [`DOCUMENTED_SETTINGS`]: a request no server has answered yet goes to the next one.
pub const DOCUMENTED_BALANCING_SETTINGS: &str = "\
proxy_next_upstream error timeout;
proxy_connect_timeout 5s;";

/// An nginx process proxying to rowpipe. Stopped when dropped.
pub struct Nginx {
    addr: SocketAddr,
    child: Child,
    dir: tempfile::TempDir,
}

impl Nginx {
    /// nginx in front of the one server at `upstream`.
    #[track_caller]
    pub fn start(upstream: SocketAddr, settings: ProxySettings) -> Nginx {
        let location = match settings {
            ProxySettings::Defaults => String::new(),
            ProxySettings::Documented => DOCUMENTED_SETTINGS.to_owned(),
        };
        Self::launch("", &upstream.to_string(), &location)
    }

    /// nginx balancing `servers` (round robin) with the README's settings for several
    /// servers.
    #[track_caller]
    pub fn balancing(servers: &[SocketAddr]) -> Nginx {
        let mut upstream = String::from("upstream rowpipe {\n");
        for server in servers {
            upstream.push_str(&format!(
                "        server {server} {DOCUMENTED_SERVER_PARAMETERS};\n"
            ));
        }
        upstream.push_str(&format!("        {DOCUMENTED_UPSTREAM_SETTINGS}\n    }}"));
        let location = format!("{DOCUMENTED_SETTINGS}\n{DOCUMENTED_BALANCING_SETTINGS}");
        Self::launch(&upstream, "rowpipe", &location)
    }

    /// nginx with `upstream` (an `upstream` block, or nothing) in its `http` block and one
    /// `location /` that passes everything to `target` with the `location` settings.
    #[track_caller]
    fn launch(upstream: &str, target: &str, location: &str) -> Nginx {
        let dir = tempfile::tempdir().expect("nginx directory");
        let addr = free_local_addr();
        let root = dir.path().display();
        // One process that keeps the test's user (no worker switching to `nobody`), all
        // its files in the temporary directory.
        let config = format!(
            "daemon off;
master_process off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    {upstream}
    server {{
        listen {addr};
        location / {{
            proxy_pass http://{target};
            {location}
        }}
    }}
}}
"
        );
        let config_path = dir.path().join("nginx.conf");
        std::fs::write(&config_path, config).expect("write nginx.conf");
        let child = Command::new(nginx_program())
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "cannot start nginx ({error}); install Debian's nginx package \
                     (.ci/run does)"
                )
            });
        let mut nginx = Nginx { addr, child, dir };
        let up = poll_until(Duration::from_secs(10), || TcpStream::connect(addr).is_ok());
        if up.is_none() {
            let _ = nginx.child.kill();
            panic!("nginx did not listen on {addr}:\n{}", nginx.error_log());
        }
        nginx
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// nginx from `PATH`, or where Debian installs it (`/usr/sbin` is not on every `PATH`).
fn nginx_program() -> PathBuf {
    let sbin = PathBuf::from("/usr/sbin/nginx");
    if sbin.exists() {
        sbin
    } else {
        PathBuf::from("nginx")
    }
}
