//! The runner's side of the proofs: what it puts on the host for the
//! attacks to reach (a secret, a decoy process, a file handle) and the
//! host-side facts it compares their output with.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// 16 random bytes in hex: a secret the sandbox cannot guess.
pub fn random_token() -> String {
    let mut b = [0u8; 16];
    // SAFETY: getrandom writes at most b.len() bytes into b, which we own.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    if n != b.len() as isize {
        // Never reached on Linux ≥ 3.17 for 16 bytes; the time is enough
        // to keep a secret from matching a stale one.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        return format!("{t:032x}");
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `path` relative to the root of the file system it lies on: the
/// highest ancestor with the same device (bind mounts aside).
pub fn path_in_filesystem(path: &Path) -> Option<PathBuf> {
    let dev = fs::metadata(path).ok()?.dev();
    let mut top = path.parent()?;
    while let Some(up) = top.parent() {
        if fs::metadata(up).ok()?.dev() != dev {
            break;
        }
        top = up;
    }
    if fs::metadata(top).ok()?.dev() != dev {
        return None;
    }
    path.strip_prefix(top).ok().map(Path::to_path_buf)
}

/// The file handle of `dir` as `TYPE:HEX` (name_to_handle_at).
pub fn file_handle(dir: &Path) -> Option<String> {
    #[repr(C)]
    struct Handle {
        bytes: u32,
        kind: i32,
        data: [u8; 128],
    }
    let mut h = Handle {
        bytes: 128,
        kind: 0,
        data: [0; 128],
    };
    let mut mount_id: libc::c_int = 0;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: c is a NUL-terminated path; h is a file_handle with room
    // for the 128 bytes its header announces; mount_id is an int we own.
    let r = unsafe {
        libc::syscall(
            libc::SYS_name_to_handle_at,
            libc::AT_FDCWD,
            c.as_ptr(),
            &mut h as *mut Handle,
            &mut mount_id as *mut libc::c_int,
            0,
        )
    };
    if r != 0 || h.bytes as usize > h.data.len() {
        return None;
    }
    let hex: String = h.data[..h.bytes as usize]
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect();
    Some(format!("{}:{hex}", h.kind))
}

/// The id of the calling user's keyring (the host root's when we run as
/// root), which `keyctl_host_keyring` compares with what it got.
pub fn user_keyring_id() -> Option<i64> {
    const KEYCTL_GET_KEYRING_ID: libc::c_long = 0;
    const KEY_SPEC_USER_KEYRING: libc::c_long = -4;
    // SAFETY: keyctl with integer arguments only.
    let r = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_GET_KEYRING_ID,
            KEY_SPEC_USER_KEYRING,
            1,
        )
    };
    (r >= 0).then_some(r)
}

/// FNV-1a of the first 4 KiB of block device `major:minor`, read through
/// a node made in `scratch` (the attack prints the same hash).
pub fn disk_hash(major: u32, minor: u32, scratch: &Path) -> Option<String> {
    use std::os::unix::fs::FileExt;
    let node = scratch.join(format!("disk-{major}-{minor}"));
    let _ = fs::remove_file(&node);
    nix::sys::stat::mknod(
        &node,
        nix::sys::stat::SFlag::S_IFBLK,
        nix::sys::stat::Mode::from_bits_truncate(0o600),
        nix::sys::stat::makedev(major.into(), minor.into()),
    )
    .ok()?;
    let mut buf = [0u8; 4096];
    let read = fs::File::open(&node).and_then(|f| f.read_exact_at(&mut buf, 0));
    let _ = fs::remove_file(&node);
    read.ok()?;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in buf {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    Some(format!("{h:016x}"))
}

/// A host process outside the container for the attacks that reach for
/// one: a copy of the attack binary run as `decoy` (it exits 42 on
/// SIGUSR1, 43 once its memory was written; selftest/main.c). Killed on
/// drop.
pub struct Decoy {
    pub binary: PathBuf,
    pub original: Vec<u8>,
    child: Child,
}

pub const DECOY_EXIT_SIGNAL: i32 = 42;
pub const DECOY_EXIT_MEMORY: i32 = 43;

impl Decoy {
    pub fn start(dir: &Path, program: &[u8]) -> std::io::Result<Decoy> {
        let binary = dir.join("selftest-decoy");
        fs::write(&binary, program)?;
        fs::set_permissions(&binary, fs::Permissions::from_mode(0o755))?;
        let child = Command::new(&binary)
            .arg("decoy")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        Ok(Decoy {
            binary,
            original: program.to_vec(),
            child,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Ends the decoy; its exit code if it exited by itself. When the
    /// attack says it reached the decoy, the decoy is first given a
    /// second to notice (it polls its memory every 10 ms); otherwise a
    /// fifth of one, so that an unclaimed touch is still seen.
    pub fn finish(&mut self, attack_claims_success: bool) -> Option<i32> {
        let patience = if attack_claims_success {
            Duration::from_secs(1)
        } else {
            Duration::from_millis(200)
        };
        let start = Instant::now();
        while start.elapsed() < patience {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code();
            }
            sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }

    /// Whether the host binary behind the decoy changed.
    pub fn binary_changed(&self) -> bool {
        fs::read(&self.binary).map_or(true, |now| now != self.original)
    }
}

impl Drop for Decoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An abstract Unix socket on the host (in the runner's network
/// namespace) that writes the secret to every connection, until dropped.
pub struct AbstractServer {
    pub name: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl AbstractServer {
    pub fn start(secret: &str) -> std::io::Result<AbstractServer> {
        use std::io::Write;
        use std::os::linux::net::SocketAddrExt;
        use std::os::unix::net::{SocketAddr, UnixListener};
        use std::sync::atomic::Ordering;

        let name = format!("sandbox-selftest-{}", random_token());
        let addr = SocketAddr::from_abstract_name(name.as_bytes())?;
        let listener = UnixListener::bind_addr(&addr)?;
        listener.set_nonblocking(true)?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (flag, secret) = (stop.clone(), secret.to_string());
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((mut conn, _)) => {
                        let _ = conn.set_nonblocking(false);
                        let _ = conn.write_all(secret.as_bytes());
                    }
                    Err(_) => sleep(Duration::from_millis(10)),
                }
            }
        });
        Ok(AbstractServer {
            name,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for AbstractServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A System V shared memory segment on the host (in the runner's IPC
/// namespace) holding the secret; removed when dropped.
pub struct HostShm {
    pub key: i32,
    id: i32,
}

impl HostShm {
    pub fn create(secret: &str) -> std::io::Result<HostShm> {
        // A key from the secret's own randomness, positive and not
        // IPC_PRIVATE (0).
        let key = i32::from_str_radix(&secret[..7], 16).unwrap_or(0x5e1f) | 1;
        // SAFETY: shmget with plain integer arguments.
        let id = unsafe { libc::shmget(key, 4096, libc::IPC_CREAT | libc::IPC_EXCL | 0o600) };
        if id < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let shm = HostShm { key, id };
        // SAFETY: attaching the 4096-byte segment we just created.
        let p = unsafe { libc::shmat(id, std::ptr::null(), 0) };
        if p as isize == -1 {
            return Err(std::io::Error::last_os_error());
        }
        let bytes = secret.as_bytes();
        let n = bytes.len().min(4095);
        // SAFETY: p maps 4096 writable bytes; we copy at most 4095 and
        // detach right after.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), p.cast::<u8>(), n);
            libc::shmdt(p);
        }
        Ok(shm)
    }
}

impl Drop for HostShm {
    fn drop(&mut self) {
        // SAFETY: removes our own segment by id; no pointer is involved.
        unsafe { libc::shmctl(self.id, libc::IPC_RMID, std::ptr::null_mut()) };
    }
}
