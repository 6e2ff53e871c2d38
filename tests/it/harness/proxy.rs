//! A TCP proxy that can make the database host vanish: [`Proxy::blackhole`] stops
//! forwarding and makes the kernel drop, unanswered, every packet that comes in for the
//! proxy's connections and its listening port, as if the host had lost power.
//!
//! Stopping to forward alone would not do: the proxy's kernel would still acknowledge
//! rowpipe's keepalive probes, and a dead connection would look alive forever. A
//! drop-everything classic BPF filter on the proxy's sockets (`SO_ATTACH_FILTER`, which
//! needs no privilege) discards each packet before TCP sees it, so no ACK, RST or FIN ever
//! goes back: new connections see their SYN unanswered, existing ones see their probes
//! unanswered. [`Proxy::restore`] lets new connections through again; the ones the
//! blackhole caught stay dead, as a rebooted host's would.

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The proxy. Stops (closing every connection) when dropped.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

struct Shared {
    listener_fd: RawFd,
    /// Increased by each blackhole: a connection forwards only while the generation it
    /// was opened in is current.
    generation: watch::Sender<u64>,
    /// Client-side sockets of open connections.
    clients: Mutex<Vec<RawFd>>,
}

impl Proxy {
    /// Forwards 127.0.0.1:(a free port) to `target`.
    pub fn start(target: SocketAddr) -> Proxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("proxy address");
        let shared = Arc::new(Shared {
            listener_fd: listener.as_raw_fd(),
            generation: watch::Sender::new(0),
            clients: Mutex::new(Vec::new()),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let inner = shared.clone();
        let thread = thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("proxy runtime");
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).expect("tokio listener");
                tokio::select! {
                    () = accept_loop(listener, target, inner) => {}
                    _ = stopped => {}
                }
            });
        });
        Proxy {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Where to connect instead of the target.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Makes the target vanish: nothing is forwarded any more and nothing is answered,
    /// neither on the open connections nor to new ones.
    pub fn blackhole(&self) {
        // Held throughout, so that no connection closes (and frees its descriptor's number
        // for some other socket of the test process) while its filter is attached.
        let clients = self.shared.clients.lock().unwrap();
        let generation = *self.shared.generation.borrow() + 1;
        // Stop writing first, then let what was already sent be acknowledged: data left
        // in flight would be retransmitted to rowpipe, and each copy would look like a
        // sign of life.
        self.shared.generation.send_replace(generation);
        drop_all_packets(self.shared.listener_fd, true);
        for &fd in clients.iter() {
            wait_until_acknowledged(fd, Duration::from_secs(2));
        }
        for &fd in clients.iter() {
            drop_all_packets(fd, true);
        }
    }

    /// New connections are forwarded again (the ones the blackhole caught stay dead).
    pub fn restore(&self) {
        drop_all_packets(self.shared.listener_fd, false);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_loop(listener: TcpListener, target: SocketAddr, shared: Arc<Shared>) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        while connections.try_join_next().is_some() {}
        let fd = client.as_raw_fd();
        let generation = {
            let mut clients = shared.clients.lock().unwrap();
            let generation = *shared.generation.borrow();
            clients.push(fd);
            generation
        };
        let current = shared.generation.subscribe();
        let shared = shared.clone();
        connections.spawn(async move {
            let mut client = client;
            if let Ok(mut server) = TcpStream::connect(target).await {
                let (mut client_read, mut client_write) = client.split();
                let (mut server_read, mut server_write) = server.split();
                // Each direction stops at the blackhole; the sockets then stay open (and
                // silent) until the proxy stops.
                tokio::join!(
                    pump(
                        &mut client_read,
                        &mut server_write,
                        generation,
                        current.clone()
                    ),
                    pump(&mut server_read, &mut client_write, generation, current),
                );
            }
            // Ended by the peers: forget the descriptor before the socket closes.
            shared.clients.lock().unwrap().retain(|&known| known != fd);
            drop(client);
        });
    }
}

/// Copies `from` to `to` while the connection's generation is current; afterwards holds
/// both halves open without using them.
async fn pump(
    from: &mut tokio::net::tcp::ReadHalf<'_>,
    to: &mut tokio::net::tcp::WriteHalf<'_>,
    generation: u64,
    mut current: watch::Receiver<u64>,
) {
    let mut buffer = vec![0; 64 * 1024];
    loop {
        if *current.borrow() != generation {
            break;
        }
        let read = tokio::select! {
            read = from.read(&mut buffer) => read,
            _ = current.changed() => break,
        };
        let Ok(n @ 1..) = read else {
            let _ = to.shutdown().await;
            return;
        };
        if *current.borrow() != generation || to.write_all(&buffer[..n]).await.is_err() {
            break;
        }
    }
    // Vanished: keep the sockets, say nothing.
    std::future::pending::<()>().await;
}

/// Waits (at most `limit`) until everything written to socket `fd` has been acknowledged.
fn wait_until_acknowledged(fd: RawFd, limit: Duration) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let mut queued: libc::c_int = 0;
        // SAFETY: TIOCOUTQ writes one int through the pointer; `fd` is a socket of ours.
        let status = unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut queued) };
        if status != 0 || queued == 0 {
            return;
        }
        thread::sleep(Duration::from_millis(1));
    }
}

/// Attaches (`on`) or detaches a classic BPF program that drops every packet arriving for
/// socket `fd`. Panics if the kernel refuses.
fn drop_all_packets(fd: RawFd, on: bool) {
    // One instruction: `ret #0`, keep zero bytes of the packet.
    let mut program = [libc::sock_filter {
        code: (libc::BPF_RET | libc::BPF_K) as u16,
        jt: 0,
        jf: 0,
        k: 0,
    }];
    let status = if on {
        let filter = libc::sock_fprog {
            len: 1,
            filter: program.as_mut_ptr(),
        };
        // SAFETY: the kernel copies the program during the call; both live until then.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_ATTACH_FILTER,
                (&filter as *const libc::sock_fprog).cast(),
                std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
            )
        }
    } else {
        let none: libc::c_int = 0;
        // SAFETY: SO_DETACH_FILTER reads no value; an int is passed as is customary.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_DETACH_FILTER,
                (&none as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        }
    };
    assert_eq!(
        status,
        0,
        "cannot {} the proxy's packet filter: {}",
        if on { "attach" } else { "detach" },
        std::io::Error::last_os_error()
    );
}
