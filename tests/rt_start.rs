//! Starting a node: names, options from the environment, and a clear error when io_uring is
//! unavailable (here: forbidden by a seccomp filter, as container runtimes do).

mod support;

use ergors::{Node, NodeOptions, StartError};
use std::process::Command;

#[test]
fn bad_names_are_refused() {
    for name in ["", "nohost", "@host", "name@", "a@b@c", "sp ace@host"] {
        let err = Node::start(name, NodeOptions::default().workers(1)).err().expect("refused");
        assert!(matches!(err, StartError::InvalidName(_)), "{name}: {err}");
    }
}

#[test]
fn bad_builder_value_names_the_variable() {
    let err = Node::start("opts@localhost", NodeOptions::default().workers(0)).err().expect("refused");
    assert!(err.to_string().contains("ERGORS_WORKERS"), "{err}");
}

/// Runs one test of this binary in a child process with extra environment variables.
fn run_child(test: &str, env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture", "--include-ignored"]).env("ERGORS_TEST_CHILD", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
#[ignore = "run by from_env_reports_bad_variables in a child process"]
fn child_from_env() {
    if std::env::var("ERGORS_TEST_CHILD").is_err() {
        return;
    }
    let err = NodeOptions::from_env().expect_err("refused");
    println!("CHILD-ERROR: {err}");
}

#[test]
fn from_env_reports_bad_variables() {
    let out = run_child("child_from_env", &[("ERGORS_WORKERS", "lots")]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("CHILD-ERROR: invalid value \"lots\" for ERGORS_WORKERS: expected an integer from 1 to 1024"),
        "{text}"
    );
}

/// Forbids io_uring_setup for this thread and the threads it starts afterwards.
fn forbid_io_uring_in_this_thread() {
    let filter = [
        // Load the syscall number.
        libc::sock_filter { code: (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16, jt: 0, jf: 0, k: 0 },
        // io_uring_setup? Then fail it with EPERM, as a container profile does.
        libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
            jt: 0,
            jf: 1,
            k: libc::SYS_io_uring_setup as u32,
        },
        libc::sock_filter {
            code: (libc::BPF_RET | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
        },
        libc::sock_filter { code: (libc::BPF_RET | libc::BPF_K) as u16, jt: 0, jf: 0, k: libc::SECCOMP_RET_ALLOW },
    ];
    let prog = libc::sock_fprog { len: filter.len() as u16, filter: filter.as_ptr() as *mut _ };
    // SAFETY: PR_SET_NO_NEW_PRIVS takes plain integer arguments.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    assert_eq!(rc, 0);
    // SAFETY: `prog` points at a valid filter program that outlives the call; the kernel copies it.
    let rc = unsafe { libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, 0, &prog as *const _) };
    assert_eq!(rc, 0, "seccomp: {}", std::io::Error::last_os_error());
}

#[test]
fn io_uring_forbidden_by_seccomp_is_a_clear_error() {
    // The filter applies to this helper thread and its children only, not to other tests.
    let result = std::thread::spawn(|| {
        forbid_io_uring_in_this_thread();
        Node::start("noring@localhost", NodeOptions::default().workers(2).pin_workers(false)).err()
    })
    .join()
    .unwrap();
    match result {
        Some(StartError::IoUringUnavailable { cause, fix }) => {
            assert!(cause.contains("EPERM") && cause.contains("seccomp"), "{cause}");
            assert!(fix.contains("seccomp"), "{fix}");
        }
        Some(other) => panic!("unexpected error: {other}"),
        None => panic!("the node started although io_uring is forbidden"),
    }
}
