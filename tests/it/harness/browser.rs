//! A real browser: Debian's headless Chromium, driven through ChromeDriver's W3C WebDriver
//! protocol (plain JSON over HTTP, spoken here over a [`TcpStream`]).
//!
//! Each [`Browser`] has its own ChromeDriver, a fresh profile and a download folder of its
//! own. Chromium runs with the flags it needs on a machine without a display or a network
//! (see [`CHROMIUM_FLAGS`]); screenshots go to `target/test-artifacts/`, where CI keeps
//! them.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use super::process::poll_until;
use super::server::free_local_addr;

/// Headless, as root, without a GPU, and with nothing that would reach for the network.
pub const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,1600",
];

/// The W3C name of an element reference in WebDriver's JSON.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A Chromium session; the browser and its driver end when it is dropped.
pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    downloads: tempfile::TempDir,
    _profile: tempfile::TempDir,
}

/// An element of the page.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Browser {
    /// Starts ChromeDriver and a Chromium session. Fails loudly when either is missing.
    #[track_caller]
    pub fn start() -> Browser {
        for program in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(program).exists(),
                "{program} is missing: install Debian's chromium and chromium-driver \
                 (`.ci/run` does)"
            );
        }
        let addr = free_local_addr();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={}", addr.port()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let ready = poll_until(Duration::from_secs(20), || TcpStream::connect(addr).is_ok());
        assert!(ready.is_some(), "chromedriver did not start listening");
        let profile = tempfile::tempdir().expect("a profile folder");
        let downloads = tempfile::tempdir().expect("a download folder");
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|flag| flag.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let capabilities = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": CHROMIUM,
                    "args": args,
                    "prefs": {
                        "download.default_directory": downloads.path(),
                        "download.prompt_for_download": false,
                    },
                },
            }}
        });
        let mut browser = Browser {
            driver,
            addr,
            session: String::new(),
            downloads,
            _profile: profile,
        };
        let created = browser.call("POST", "/session", Some(capabilities));
        browser.session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_owned();
        // Headless Chromium saves downloads only where it is told to.
        browser.session_call(
            "POST",
            "/goog/cdp/execute",
            json!({
                "cmd": "Browser.setDownloadBehavior",
                "params": { "behavior": "allow", "downloadPath": browser.downloads.path() },
            }),
        );
        browser
    }

    /// Opens `url` and waits for it to load.
    pub fn goto(&self, url: &str) {
        self.session_call("POST", "/url", json!({ "url": url }));
    }

    /// The current page's address.
    pub fn url(&self) -> String {
        self.session_get("/url")
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits until the page's address ends with `ending` (a click or a key that navigates
    /// returns before the next page has loaded), and returns it.
    #[track_caller]
    pub fn wait_for_url(&self, ending: &str) -> String {
        let arrived = poll_until(Duration::from_secs(20), || self.url().ends_with(ending));
        let url = self.url();
        assert!(
            arrived.is_some(),
            "the browser stayed at {url}, not …{ending}"
        );
        // The address changes when the answer starts; wait for the document too.
        let loaded = poll_until(Duration::from_secs(20), || {
            self.execute("return document.readyState") == "complete"
        });
        assert!(loaded.is_some(), "{url} did not finish loading");
        url
    }

    /// The current page's title.
    pub fn title(&self) -> String {
        self.session_get("/title")
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The first element matching the CSS `selector`; fails the test when there is none.
    #[track_caller]
    pub fn find(&self, selector: &str) -> Element {
        let found = self.find_all(selector);
        found
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("nothing on {} matches {selector:?}", self.url()))
    }

    /// Every element matching the CSS `selector`.
    pub fn find_all(&self, selector: &str) -> Vec<Element> {
        let found = self.session_call(
            "POST",
            "/elements",
            json!({ "using": "css selector", "value": selector }),
        );
        found
            .as_array()
            .map(|elements| elements.iter().map(element).collect())
            .unwrap_or_default()
    }

    /// The text of `element` as rendered (what a person reads).
    pub fn text(&self, element: &Element) -> String {
        let text = self.session_get(&format!("/element/{}/text", element.0));
        text.as_str().unwrap_or_default().to_owned()
    }

    /// The texts of every element matching `selector`.
    pub fn texts(&self, selector: &str) -> Vec<String> {
        self.find_all(selector)
            .iter()
            .map(|element| self.text(element))
            .collect()
    }

    /// `element`'s property `name` (`value` of an input, say).
    pub fn property(&self, element: &Element, name: &str) -> Value {
        self.session_get(&format!("/element/{}/property/{name}", element.0))
    }

    pub fn click(&self, element: &Element) {
        self.session_call("POST", &format!("/element/{}/click", element.0), json!({}));
    }

    /// Empties an input and types `text` into it.
    pub fn type_into(&self, element: &Element, text: &str) {
        self.session_call("POST", &format!("/element/{}/clear", element.0), json!({}));
        self.session_call(
            "POST",
            &format!("/element/{}/value", element.0),
            json!({ "text": text }),
        );
    }

    /// Presses the keys `keys` (WebDriver's codes: `\u{E004}` is Tab) on whatever has the
    /// focus.
    pub fn press(&self, keys: &str) {
        let mut actions = Vec::new();
        for key in keys.chars() {
            actions.push(json!({ "type": "keyDown", "value": key.to_string() }));
            actions.push(json!({ "type": "keyUp", "value": key.to_string() }));
        }
        self.session_call(
            "POST",
            "/actions",
            json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": actions }] }),
        );
    }

    /// Runs `script` (a function body) in the page and returns its result.
    pub fn execute(&self, script: &str) -> Value {
        self.session_call(
            "POST",
            "/execute/sync",
            json!({ "script": script, "args": [] }),
        )
    }

    /// Saves a screenshot of the page as `target/test-artifacts/{name}.png`.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.session_get("/screenshot");
        let png = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().expect("a base64 screenshot"))
            .expect("base64");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
        std::fs::create_dir_all(&dir).expect("the artifacts folder");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write the screenshot");
        path
    }

    /// The bytes of the downloaded file `name`, once Chromium has finished writing it.
    #[track_caller]
    pub fn downloaded(&self, name: &str, limit: Duration) -> Vec<u8> {
        let path = self.downloads.path().join(name);
        let done = poll_until(limit, || {
            // Chromium writes `name.crdownload` and renames it when complete.
            path.exists()
                && !self
                    .downloads
                    .path()
                    .join(format!("{name}.crdownload"))
                    .exists()
        });
        if done.is_none() {
            let present: Vec<_> = std::fs::read_dir(self.downloads.path())
                .map(|entries| entries.flatten().map(|entry| entry.file_name()).collect())
                .unwrap_or_default();
            panic!("{name} was not downloaded within {limit:?}; the folder holds {present:?}");
        }
        std::fs::read(path).expect("read the download")
    }

    fn session_get(&self, path: &str) -> Value {
        self.call("GET", &format!("/session/{}{path}", self.session), None)["value"].clone()
    }

    fn session_call(&self, method: &str, path: &str, body: Value) -> Value {
        self.call(
            method,
            &format!("/session/{}{path}", self.session),
            Some(body),
        )["value"]
            .clone()
    }

    /// One WebDriver command; fails the test when the driver answers with an error.
    #[track_caller]
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|body| body.to_string()).unwrap_or_default();
        let mut stream = TcpStream::connect(self.addr).expect("connect to chromedriver");
        stream
            .set_read_timeout(Some(Duration::from_secs(120)))
            .expect("a read timeout");
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .expect("send to chromedriver");
        // ChromeDriver keeps the connection open whatever the request says: read the
        // head, then as many bytes as it announces.
        let mut response = Vec::new();
        let mut buffer = [0u8; 64 * 1024];
        let (head, body) = loop {
            let read = stream
                .read(&mut buffer)
                .expect("read chromedriver's answer");
            assert!(read > 0, "chromedriver closed the connection: {response:?}");
            response.extend_from_slice(&buffer[..read]);
            if let Some(end) = response.windows(4).position(|window| window == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&response[..end]).into_owned();
                break (head, response[end + 4..].to_vec());
            }
        };
        let length: usize = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .unwrap_or_else(|| panic!("no Content-Length from chromedriver: {head}"));
        let mut body = body;
        while body.len() < length {
            let read = stream
                .read(&mut buffer)
                .expect("read chromedriver's answer");
            assert!(read > 0, "chromedriver closed the connection mid-answer");
            body.extend_from_slice(&buffer[..read]);
        }
        let body = String::from_utf8_lossy(&body);
        let value: Value = serde_json::from_str(&body)
            .unwrap_or_else(|error| panic!("{method} {path}: {error}: {body}"));
        if !head.starts_with("HTTP/1.1 200") {
            panic!("{method} {path} failed: {head}\n{value}");
        }
        value
    }
}

fn element(value: &Value) -> Element {
    Element(
        value[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("not an element: {value}"))
            .to_owned(),
    )
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let session = format!("/session/{}", self.session);
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.call("DELETE", &session, None)
            }));
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
