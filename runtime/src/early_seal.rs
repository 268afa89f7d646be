//! berth's ELF entry point: the verbs that clone into a container re-execute from a sealed
//! view of the binary before glibc and Rust start (CVE-2019-5736; see berth_runtime::seal).
//!
//! Why before them: the first process of `create`, `run` or `exec` lives only to re-execute.
//! Starting glibc and Rust in it cost about as much as the re-execution itself: glibc probes
//! the CPU's features and caches with dozens of cpuid instructions (each one a trap to the
//! hypervisor in a VM), the static-pie binary relocates itself (a copy-on-write fault on each
//! page of relocated data), and each of those pages is torn down again at the execve. So the
//! linker's entry point is [`berth_entry`] (set in build.rs): it reads argv from the initial
//! stack and, for a cloning verb, makes the read-only view and execveat(2)s it with raw system
//! calls. Otherwise, and on any failure, it falls through to glibc's `_start` as if it had
//! never run: main's `seal::reexec_sealed` then does the same with typed errors and the memfd
//! fallback, and finds a view made here already sealed.
//!
//! What runs here runs before the binary's own relocations are applied and before libc is
//! set up, so it must not read a pointer stored in data (a static slice of strings, a
//! vtable), call into libc (memcmp, memset and memcpy included: in a static binary they are
//! IFUNCs not yet resolved), use thread-locals, or panic. It reads argv through raw pointers,
//! compares bytes one at a time, leaves the kernel to fill its buffers, and makes system calls
//! with inline assembly. This module is the binary's one door to `unsafe`.

use core::arch::{asm, naked_asm};
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicBool, Ordering};

use berth_runtime::seal::{MountAttr, VIEW_ATTRIBUTES};

/// The process entry point. On entry (x86-64 psABI) `rsp` points at argc, then argv, a NULL,
/// envp, a NULL and the auxiliary vector; `rdx` holds a finaliser from the dynamic loader (0
/// for a static binary), which `_start` registers with atexit. Both go to `_start` unchanged.
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn berth_entry() -> ! {
    naked_asm!(
        "mov r12, rdx",
        "mov rbx, rsp",
        "mov rdi, rsp",
        "and rsp, -16",
        "call {reexec}",
        "mov rsp, rbx",
        "mov rdx, r12",
        "jmp _start",
        reexec = sym reexec_sealed_before_start,
    )
}

/// Set when the entry point found berth already running from a sealed view (the process it
/// re-executed), so main need not look again.
static FOUND_SEALED: AtomicBool = AtomicBool::new(false);

/// Did the entry point find this process running from a sealed view of berth's binary?
pub fn found_sealed() -> bool {
    FOUND_SEALED.load(Ordering::Relaxed)
}

/// Does the NUL-terminated string at `arg` name a cloning verb? Byte by byte, stopping at the
/// first difference, so nothing past the string's end is read and no memcmp is called.
///
/// # Safety
/// `arg` points at a NUL-terminated string.
unsafe fn names_cloning_verb(arg: *const u8) -> bool {
    let mut bytes = [0u8; 8];
    let mut len = 0;
    while len < bytes.len() {
        // SAFETY: `arg` is NUL-terminated and the loop stops at the NUL, so every byte read
        // is part of the string.
        let byte = unsafe { arg.wrapping_add(len).read() };
        if byte == 0 {
            break;
        }
        bytes[len] = byte;
        len += 1;
    }
    len < bytes.len() && crate::cli::is_cloning_verb(&bytes[..len])
}

/// For a cloning verb, re-execute from a read-only view of this binary unless it already
/// runs from a sealed one; return on any failure (main tries again).
///
/// # Safety
/// `stack` is the initial process stack as the kernel laid it out (see [`berth_entry`]).
unsafe extern "C" fn reexec_sealed_before_start(stack: *const usize) {
    // The kernel's initial stack holds argc, then argc argument pointers and a NULL, then the
    // environment pointers and a NULL; every pointer names a NUL-terminated string.
    // SAFETY: `stack` points at argc (see above).
    let argc = unsafe { stack.read() };
    let argv = stack.wrapping_add(1) as *const *const u8;
    let envp = argv.wrapping_add(argc + 1);
    let names_verb = |i: usize| {
        // SAFETY: for i in 1..argc, argv[i] is an argument pointer (see above).
        let arg = unsafe { argv.wrapping_add(i).read() };
        // SAFETY: an argument pointer names a NUL-terminated string.
        unsafe { names_cloning_verb(arg) }
    };
    if !(1..argc).any(names_verb) {
        return;
    }
    let exe = syscall(SYS_OPENAT, [AT_FDCWD, SELF_EXE.as_ptr() as usize, O_RDONLY | O_CLOEXEC, 0, 0]);
    if exe < 0 {
        return;
    }
    let sealed = runs_sealed(exe as usize);
    syscall(SYS_CLOSE, [exe as usize, 0, 0, 0, 0]);
    if sealed {
        FOUND_SEALED.store(true, Ordering::Relaxed);
        return;
    }
    let view = syscall(SYS_OPEN_TREE, [AT_FDCWD, SELF_EXE.as_ptr() as usize, OPEN_TREE_CLONE | O_CLOEXEC, 0, 0]);
    if view < 0 {
        return;
    }
    let attributes = MountAttr { attr_set: VIEW_ATTRIBUTES, attr_clr: 0, propagation: 0, userns_fd: 0 };
    let set = syscall(
        SYS_MOUNT_SETATTR,
        [view as usize, EMPTY.as_ptr() as usize, AT_EMPTY_PATH, &attributes as *const MountAttr as usize, core::mem::size_of::<MountAttr>()],
    );
    if set == 0 {
        // Returns only on failure; the view is close-on-exec otherwise.
        syscall(SYS_EXECVEAT, [view as usize, EMPTY.as_ptr() as usize, argv as usize, envp as usize, AT_EMPTY_PATH]);
    }
    syscall(SYS_CLOSE, [view as usize, 0, 0, 0, 0]);
}

/// Is the file behind `exe` on a read-only mount, or a write-sealed memfd?
fn runs_sealed(exe: usize) -> bool {
    // The kernel's x86-64 `struct statfs`: fifteen words, the mount flags the eleventh.
    let mut stat = MaybeUninit::<[u64; 15]>::uninit();
    if syscall(SYS_FSTATFS, [exe, stat.as_mut_ptr() as usize, 0, 0, 0]) == 0 {
        // SAFETY: fstatfs returned 0, so the kernel filled the whole structure.
        let flags = unsafe { stat.assume_init_ref() }[10] as usize;
        if flags & ST_RDONLY != 0 {
            return true;
        }
    }
    let seals = syscall(SYS_FCNTL, [exe, F_GET_SEALS, 0, 0, 0]);
    seals >= 0 && seals as usize & F_SEAL_WRITE != 0
}

/// A system call with up to five arguments; the kernel's return value, -errno on failure.
fn syscall(number: usize, args: [usize; 5]) -> isize {
    let ret: isize;
    // SAFETY: every call site passes arguments the kernel validates: descriptors, pointers to
    // NUL-terminated strings, argv/envp arrays from the initial stack and buffers that live
    // for the call. No call here changes memory this program relies on, and the clobbered
    // registers are declared.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") number as isize => ret,
            in("rdi") args[0],
            in("rsi") args[1],
            in("rdx") args[2],
            in("r10") args[3],
            in("r8") args[4],
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

const SELF_EXE: &[u8] = b"/proc/self/exe\0";
const EMPTY: &[u8] = b"\0";

const SYS_CLOSE: usize = libc::SYS_close as usize;
const SYS_FCNTL: usize = libc::SYS_fcntl as usize;
const SYS_FSTATFS: usize = libc::SYS_fstatfs as usize;
const SYS_OPENAT: usize = libc::SYS_openat as usize;
const SYS_OPEN_TREE: usize = libc::SYS_open_tree as usize;
const SYS_MOUNT_SETATTR: usize = libc::SYS_mount_setattr as usize;
const SYS_EXECVEAT: usize = libc::SYS_execveat as usize;

const AT_FDCWD: usize = libc::AT_FDCWD as isize as usize;
const AT_EMPTY_PATH: usize = libc::AT_EMPTY_PATH as usize;
const O_RDONLY: usize = libc::O_RDONLY as usize;
const O_CLOEXEC: usize = libc::O_CLOEXEC as usize;
const OPEN_TREE_CLONE: usize = 1;
const ST_RDONLY: usize = libc::ST_RDONLY as usize;
const F_GET_SEALS: usize = libc::F_GET_SEALS as usize;
const F_SEAL_WRITE: usize = libc::F_SEAL_WRITE as usize;
