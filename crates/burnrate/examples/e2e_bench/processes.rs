//! Child processes of the benchmark (a Tansu broker and `burnrate run`) and the
//! CPU time they use.

use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// A child process that gets SIGKILL when this handle is dropped or the
/// benchmark exits.
pub struct ChildProcess {
    child: Child,
    name: &'static str,
    log_path: PathBuf,
}

impl ChildProcess {
    /// Starts `command` with stdout and stderr appended to `log_path`.
    pub fn start(
        name: &'static str,
        mut command: Command,
        log_path: &Path,
    ) -> anyhow::Result<ChildProcess> {
        let log = File::create(log_path)
            .with_context(|| format!("cannot create the log file {}", log_path.display()))?;
        command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        kill_with_parent(&mut command);
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {name} ({command:?})"))?;
        Ok(ChildProcess {
            child,
            name,
            log_path: log_path.to_owned(),
        })
    }

    /// Returns the process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Returns the file that receives the process's output.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Fails with the log path if the process has exited.
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "{} exited with {status}; its log is {}",
                self.name,
                self.log_path.display()
            );
        }
        Ok(())
    }

    /// Sends SIGTERM and waits up to `timeout` for the exit, then sends SIGKILL.
    /// Returns whether the process exited by itself.
    pub fn terminate(&mut self, timeout: Duration) -> bool {
        if self.child.try_wait().ok().flatten().is_some() {
            return true;
        }
        // SAFETY: kill has no memory-safety preconditions, and the child is not
        // reaped yet, so its pid still names this process.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return true;
            }
            thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        false
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Makes the kernel send SIGKILL to the child when the spawning thread exits, so
/// that an interrupted benchmark leaves no broker or burnrate behind.
fn kill_with_parent(command: &mut Command) {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs in the forked child before exec and calls only
    // async-signal-safe functions (prctl, getppid).
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                return Err(std::io::Error::other(
                    "the benchmark exited before the child started",
                ));
            }
            Ok(())
        });
    }
}

/// Starts Tansu on a free loopback port with in-memory storage and waits until it
/// accepts connections. Returns the process and its bootstrap address.
pub fn start_tansu(tansu: &Path, work_dir: &Path) -> anyhow::Result<(ChildProcess, String)> {
    let port = free_port()?;
    let address = format!("127.0.0.1:{port}");
    let mut command = Command::new(tansu);
    command
        .arg("broker")
        .arg("--listener-url")
        .arg(format!("tcp://{address}"))
        .arg("--advertised-listener-url")
        .arg(format!("tcp://{address}"))
        .arg("--storage-engine")
        .arg("memory://tansu/");
    let mut broker = ChildProcess::start("tansu", command, &work_dir.join("tansu.log"))?;

    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(&address).is_err() {
        broker.check_running()?;
        if Instant::now() > deadline {
            bail!(
                "Tansu did not accept connections on {address} within 30 s; its log is {}",
                broker.log_path().display()
            );
        }
        thread::sleep(Duration::from_millis(50));
    }
    Ok((broker, address))
}

/// Returns a loopback port that was free a moment ago.
///
/// NOTE: another process can take the port before the child binds it. The child
/// then fails to start and the benchmark stops with its log.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot bind a loopback port")?;
    Ok(listener.local_addr()?.port())
}

/// Returns the CPU time (user plus system) that process `pid` has used, from
/// `/proc/PID/stat`, or `None` where that file cannot be read.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name in field 2 may contain spaces, so fields are counted after
    // its closing parenthesis: state is field 3, utime 14 and stime 15.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks_per_second <= 0 {
        return None;
    }
    Some(Duration::from_secs_f64(
        (user + system) as f64 / ticks_per_second as f64,
    ))
}
