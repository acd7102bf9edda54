//! `mmops __step-launcher --parent PID -- argv…` (hidden): the tiny process between make-ready
//! and each external step, so that no step outlives make-ready.
//!
//! A process group is not enough: a killed make-ready leaves the group running under PID 1, and a
//! step that calls `setsid` leaves the group. The launcher (1) asks for SIGTERM when its parent
//! dies (`PR_SET_PDEATHSIG`; setting it in the step itself would need `pre_exec`, which is unsafe
//! code), (2) becomes a child subreaper, so every descendant — even one in a new session — is
//! reparented to it rather than to PID 1, and (3) when the step ends or it is told to stop, kills
//! and reaps every remaining descendant before exiting with the step's status.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rustix::process::{Pid, Signal, WaitOptions};

use crate::cli::StepLauncherArgs;
use crate::output::Printer;

/// The hidden subcommand's name; make-ready runs `current_exe() LAUNCHER --parent PID -- argv…`.
pub(crate) const LAUNCHER: &str = "__step-launcher";
/// Exit codes as `timeout(1)` and `env(1)` use them: the launcher itself failed, or the program
/// could not be started. The reason is the last line of the output, after [`START_FAILED`].
pub(crate) const LAUNCHER_FAILED: i32 = 125;
pub(crate) const CANNOT_START: i32 = 127;
/// Prefix of the launcher's own message when the program cannot be started.
pub(crate) const START_FAILED: &str = "mmops step launcher: ";
const POLL: Duration = Duration::from_millis(5);
/// The signal that tells a launcher to kill its step's tree and exit.
pub(crate) const STOP_SIGNAL: Signal = Signal::HUP;

/// Runs the step and exits with its status; never returns.
pub fn run(args: &StepLauncherArgs, printer: &Printer) -> ! {
    let code = launch(args, printer);
    std::process::exit(code)
}

fn launch(args: &StepLauncherArgs, printer: &Printer) -> i32 {
    // SIGHUP is how make-ready (on timeout or interrupt) and the kernel (parent death) say stop.
    // Not SIGTERM: under the shared interrupt watch a second SIGTERM kills at once, which would
    // skip the cleanup this process exists for.
    let stop = Arc::new(AtomicBool::new(false));
    if signal_hook::flag::register(STOP_SIGNAL.as_raw(), Arc::clone(&stop)).is_err() {
        return fail(printer, "cannot install the signal handler");
    }
    // A SIGINT/SIGTERM sent to the launcher by someone else stops the step the same way.
    let watch = match crate::interrupt::Watch::start() {
        Ok(watch) => watch,
        Err(_) => return fail(printer, "cannot install the signal handler"),
    };
    if rustix::process::set_parent_process_death_signal(Some(STOP_SIGNAL)).is_err()
        || rustix::process::set_child_subreaper(Some(rustix::process::getpid())).is_err()
    {
        return fail(printer, "cannot tie the step to make-ready (prctl failed)");
    }
    // make-ready may have died before the death signal was armed: then the parent is already
    // someone else and the step must not start.
    if rustix::process::getppid().map(Pid::as_raw_nonzero).map(|pid| pid.get()) != Some(args.parent) {
        return LAUNCHER_FAILED;
    }
    let Some((program, rest)) = args.argv.split_first() else {
        return fail(printer, "no program given");
    };
    let child = match Command::new(program).args(rest).spawn() {
        Ok(child) => child,
        Err(error) => {
            printer.annotation(&format!(
                "{START_FAILED}cannot start {}: {error}",
                crate::sanitize::display_text(program, false)
            ));
            return CANNOT_START;
        }
    };
    let step = Pid::from_child(&child);
    let status = loop {
        if stop.load(Ordering::SeqCst) || watch.requested() {
            kill_descendants();
            return LAUNCHER_FAILED;
        }
        match reap_any() {
            Reaped::Child(pid, status) if pid == step => break status,
            // An orphan reparented to us that exited: reaped so zombies do not pile up.
            Reaped::Child(..) => continue,
            Reaped::Nothing => std::thread::sleep(POLL),
            Reaped::NoChildren => return fail(printer, "the step vanished without an exit status"),
        }
    };
    kill_descendants();
    if let Some(code) = status.exit_status() {
        return code;
    }
    if let Some(signal) = status.terminating_signal() {
        // Die the same way, so make-ready reports "killed by signal N" as for a direct child;
        // without a second core dump (the step already left its own, if any).
        let no_core = rustix::process::Rlimit { current: Some(0), maximum: Some(0) };
        let _ = rustix::process::setrlimit(rustix::process::Resource::Core, no_core);
        let _ = signal_hook::low_level::emulate_default_handler(signal);
        return 128 + signal;
    }
    LAUNCHER_FAILED
}

fn fail(printer: &Printer, message: &str) -> i32 {
    printer.annotation(&format!("{START_FAILED}{message}"));
    LAUNCHER_FAILED
}

enum Reaped {
    Child(Pid, rustix::process::WaitStatus),
    Nothing,
    NoChildren,
}

fn reap_any() -> Reaped {
    match rustix::process::wait(WaitOptions::NOHANG) {
        Ok(Some((pid, status))) => Reaped::Child(pid, status),
        Ok(None) => Reaped::Nothing,
        Err(rustix::io::Errno::CHILD) => Reaped::NoChildren,
        Err(_) => Reaped::Nothing,
    }
}

/// SIGKILLs every descendant and reaps them, rescanning until none is left: a process forked
/// between a scan and the kill is reparented to us and found by the next scan.
fn kill_descendants() {
    let me = rustix::process::getpid().as_raw_nonzero().get();
    loop {
        let found = descendants_of(me);
        for pid in &found {
            if let Some(pid) = Pid::from_raw(*pid) {
                let _ = rustix::process::kill_process(pid, Signal::KILL);
            }
        }
        let mut any_child = false;
        loop {
            match reap_any() {
                Reaped::Child(..) => any_child = true,
                Reaped::Nothing => {
                    any_child = true;
                    break;
                }
                Reaped::NoChildren => break,
            }
        }
        if found.is_empty() && !any_child {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Every live process whose parent chain reaches `root`, read from `/proc/*/stat`.
fn descendants_of(root: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    let mut parents: Vec<(i32, i32)> = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // `pid (comm) state ppid …`; comm may contain spaces and parentheses, so split at the last ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else { continue };
        let mut fields = rest.split_whitespace();
        let state = fields.next();
        let Some(ppid) = fields.next().and_then(|field| field.parse::<i32>().ok()) else { continue };
        // Zombies are already dead; they only need reaping by their parent.
        if state != Some("Z") {
            parents.push((pid, ppid));
        }
    }
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for (pid, _) in parents.iter().filter(|(_, ppid)| *ppid == parent) {
            if !found.contains(pid) {
                found.push(*pid);
                frontier.push(*pid);
            }
        }
    }
    found
}
