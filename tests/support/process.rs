//! A `burnrate` binary running as a child process of the test.

use std::ffi::OsStr;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::broker::kill_with_parent;

/// A running `burnrate` process whose stdout and stderr go to files. Dropping it
/// sends SIGKILL and waits for the process.
pub struct BurnrateProcess {
    child: Child,
    output_dir: TempDir,
    exit_status: Option<ExitStatus>,
}

impl BurnrateProcess {
    /// Starts `burnrate` with `args` and extra environment variables, in the
    /// repository root so that relative paths such as `examples/...` resolve.
    pub fn start<I, S>(args: I, envs: &[(&str, &str)]) -> BurnrateProcess
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let output_dir = tempfile::Builder::new()
            .prefix("burnrate-process-")
            .tempdir()
            .expect("a temporary directory for process output can be created");
        let stdout =
            File::create(output_dir.path().join("stdout")).expect("the stdout file can be created");
        let stderr =
            File::create(output_dir.path().join("stderr")).expect("the stderr file can be created");

        let mut command = Command::new(env!("CARGO_BIN_EXE_burnrate"));
        command
            .args(args)
            .envs(envs.iter().copied())
            .current_dir(repository_root())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        // Drop stops the process at the end of a test. If the test process dies
        // without running destructors (an abort or a SIGKILL), the kernel does.
        kill_with_parent(&mut command);
        let child = command.spawn().expect("the burnrate binary starts");

        BurnrateProcess {
            child,
            output_dir,
            exit_status: None,
        }
    }

    /// Returns the process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM, the request for a clean shutdown.
    pub fn terminate(&mut self) {
        self.signal(libc::SIGTERM);
    }

    /// Sends SIGKILL, which stops burnrate at once, as a crash would.
    pub fn kill(&mut self) {
        self.signal(libc::SIGKILL);
    }

    fn signal(&mut self, signal: libc::c_int) {
        if self.exit_status.is_some() {
            return;
        }
        // SAFETY: kill has no memory-safety preconditions. The child is not yet
        // reaped (exit_status is None), so its pid still names this process.
        let result = unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
        if result != 0 {
            panic!(
                "Sending signal {signal} to burnrate (pid {}) failed: {}",
                self.pid(),
                std::io::Error::last_os_error()
            );
        }
    }

    /// Waits until the process exits and returns its status, or returns `None` if
    /// it still runs after `timeout`.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Returns the exit status if the process has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.exit_status.is_none() {
            self.exit_status = self
                .child
                .try_wait()
                .expect("the burnrate process can be waited for");
        }
        self.exit_status
    }

    /// Sends SIGTERM and waits up to `timeout` for the exit; panics with the output
    /// if the process is still running then.
    pub fn stop(&mut self, timeout: Duration) -> ExitStatus {
        self.terminate();
        match self.wait_timeout(timeout) {
            Some(status) => status,
            None => panic!(
                "burnrate did not exit within {timeout:?} of SIGTERM.\n{}",
                self.describe_output()
            ),
        }
    }

    /// Everything the process has written to stdout so far.
    pub fn stdout(&self) -> String {
        read_lossy(&self.stdout_path())
    }

    /// Everything the process has written to stderr so far.
    pub fn stderr(&self) -> String {
        read_lossy(&self.stderr_path())
    }

    pub fn stdout_path(&self) -> PathBuf {
        self.output_dir.path().join("stdout")
    }

    pub fn stderr_path(&self) -> PathBuf {
        self.output_dir.path().join("stderr")
    }

    /// Returns stdout and stderr under headings, for assertion messages.
    pub fn describe_output(&self) -> String {
        format!(
            "--- burnrate stdout ---\n{}\n--- burnrate stderr ---\n{}",
            self.stdout(),
            self.stderr()
        )
    }

    /// Waits until stdout or stderr contains `text`, or `timeout` expires. Returns
    /// whether the text appeared.
    pub fn wait_for_output(&mut self, text: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.stdout().contains(text) || self.stderr().contains(text) {
                return true;
            }
            if Instant::now() > deadline || self.try_wait().is_some() {
                return self.stdout().contains(text) || self.stderr().contains(text);
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for BurnrateProcess {
    fn drop(&mut self) {
        if self.try_wait().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Returns the workspace root, which contains `examples/`, `schemas/` and `tests/`.
pub fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read_lossy(path: &Path) -> String {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(error) => format!("(cannot read {}: {error})", path.display()),
    }
}
