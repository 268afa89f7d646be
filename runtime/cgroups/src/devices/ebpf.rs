//! The cgroup v2 device program: BPF_PROG_TYPE_CGROUP_DEVICE instructions built from the
//! folded rules, one block per exception, then the default verdict.
//!
//! The kernel calls it with `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`
//! where access_type is `(access << 16) | type` and returns 1 to allow, 0 to deny.
//! Matching follows the v1 controller: in a deny-by-default list an exception matches only if
//! it grants every requested access bit; in an allow-by-default list it matches if it names
//! any of them.

use super::{DeviceRules, Exception, Kind, ACCESS_ALL};

/// One eBPF instruction, laid out as the kernel's `struct bpf_insn`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Insn {
    code: u8,
    /// dst_reg in the low nibble, src_reg in the high one.
    regs: u8,
    off: i16,
    imm: i32,
}

// Opcodes (class | op | source), from linux/bpf_common.h and linux/bpf.h.
const LDX_MEM_W: u8 = 0x61;
const ALU64_MOV_X: u8 = 0xbf;
const ALU64_MOV_K: u8 = 0xb7;
const ALU64_AND_K: u8 = 0x57;
const ALU64_RSH_K: u8 = 0x77;
const JMP_JNE_K: u8 = 0x55;
const JMP_JEQ_K: u8 = 0x15;
const JMP_EXIT: u8 = 0x95;

// bpf_cgroup_dev_ctx offsets and the device types the kernel passes.
const CTX_ACCESS_TYPE: i16 = 0;
const CTX_MAJOR: i16 = 4;
const CTX_MINOR: i16 = 8;
const DEVCG_DEV_BLOCK: i32 = 1;
const DEVCG_DEV_CHAR: i32 = 2;

// Registers: r1 holds the context on entry; r0 is the verdict.
const R0: u8 = 0;
const R1: u8 = 1;
const ACCESS: u8 = 2;
const TYPE: u8 = 3;
const MAJOR: u8 = 4;
const MINOR: u8 = 5;
const SCRATCH: u8 = 6;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}

/// Build the program for `rules`.
pub(crate) fn program(rules: &DeviceRules) -> Vec<Insn> {
    let mut prog = vec![
        // Split access_type into type (low 16 bits) and access (high 16), load major and minor.
        insn(LDX_MEM_W, ACCESS, R1, CTX_ACCESS_TYPE, 0),
        insn(ALU64_MOV_X, TYPE, ACCESS, 0, 0),
        insn(ALU64_AND_K, TYPE, 0, 0, 0xffff),
        insn(ALU64_RSH_K, ACCESS, 0, 0, 16),
        insn(LDX_MEM_W, MAJOR, R1, CTX_MAJOR, 0),
        insn(LDX_MEM_W, MINOR, R1, CTX_MINOR, 0),
    ];
    for exception in &rules.exceptions {
        prog.extend(exception_block(exception, rules.default_allow));
    }
    prog.push(insn(ALU64_MOV_K, R0, 0, 0, i32::from(rules.default_allow)));
    prog.push(insn(JMP_EXIT, 0, 0, 0, 0));
    prog
}

/// Checks that jump past the block when the device does not match, then the exception's verdict.
fn exception_block(e: &Exception, default_allow: bool) -> Vec<Insn> {
    // Each check is a list of instructions whose last one is the skip jump (offset patched below).
    let mut checks: Vec<Vec<Insn>> = Vec::new();
    let kind = match e.kind {
        Kind::Block => DEVCG_DEV_BLOCK,
        Kind::Char => DEVCG_DEV_CHAR,
    };
    checks.push(vec![insn(JMP_JNE_K, TYPE, 0, 0, kind)]);
    if default_allow {
        // A deny exception matches if any requested access bit is one it names.
        checks.push(vec![
            insn(ALU64_MOV_X, SCRATCH, ACCESS, 0, 0),
            insn(ALU64_AND_K, SCRATCH, 0, 0, i32::from(e.access)),
            insn(JMP_JEQ_K, SCRATCH, 0, 0, 0),
        ]);
    } else if e.access != ACCESS_ALL {
        // An allow exception matches only if it grants every requested bit.
        checks.push(vec![
            insn(ALU64_MOV_X, SCRATCH, ACCESS, 0, 0),
            insn(ALU64_AND_K, SCRATCH, 0, 0, i32::from(!e.access & ACCESS_ALL)),
            insn(JMP_JNE_K, SCRATCH, 0, 0, 0),
        ]);
    }
    if let Some(major) = e.major {
        checks.push(vec![insn(JMP_JNE_K, MAJOR, 0, 0, imm_u32(major))]);
    }
    if let Some(minor) = e.minor {
        checks.push(vec![insn(JMP_JNE_K, MINOR, 0, 0, imm_u32(minor))]);
    }
    let verdict = [
        insn(ALU64_MOV_K, R0, 0, 0, i32::from(!default_allow)),
        insn(JMP_EXIT, 0, 0, 0, 0),
    ];
    let mut block: Vec<Insn> = checks.into_iter().flatten().collect();
    let len = block.len() + verdict.len();
    for (i, ins) in block.iter_mut().enumerate() {
        if ins.code == JMP_JNE_K || ins.code == JMP_JEQ_K {
            // Jump to the first instruction after this block.
            ins.off = i16::try_from(len - i - 1).expect("a device block is a handful of instructions");
        }
    }
    block.extend(verdict);
    block
}

/// Device numbers fit in 20 bits (minor) and 12 bits (major), so they are positive i32s.
fn imm_u32(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::super::ACCESS_READ;
    use super::*;

    /// A tiny interpreter of the instructions `program` emits, to check the logic without the kernel
    /// (the kernel check is the v2 test that opens a denied device).
    fn run(prog: &[Insn], kind: i32, access: u8, major: u32, minor: u32) -> u64 {
        let mut r = [0u64; 11];
        let ctx = [((u32::from(access) << 16) | kind as u32), major, minor];
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_MEM_W => r[dst] = u64::from(ctx[(i.off / 4) as usize]),
                ALU64_MOV_X => r[dst] = r[src],
                ALU64_MOV_K => r[dst] = i.imm as i64 as u64,
                ALU64_AND_K => r[dst] &= i.imm as i64 as u64,
                ALU64_RSH_K => r[dst] >>= i.imm,
                JMP_JNE_K if r[dst] != i.imm as i64 as u64 => pc += i.off as usize,
                JMP_JEQ_K if r[dst] == i.imm as i64 as u64 => pc += i.off as usize,
                JMP_JNE_K | JMP_JEQ_K => {}
                JMP_EXIT => return r[0],
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    #[test]
    fn whitelist_allows_only_the_listed_devices_and_access() {
        let rules = DeviceRules {
            default_allow: false,
            exceptions: vec![
                Exception { kind: Kind::Char, major: Some(1), minor: Some(3), access: ACCESS_ALL },
                Exception { kind: Kind::Char, major: Some(136), minor: None, access: ACCESS_READ },
            ],
        };
        let prog = program(&rules);
        assert_eq!(run(&prog, DEVCG_DEV_CHAR, ACCESS_READ | 4, 1, 3), 1);
        assert_eq!(run(&prog, DEVCG_DEV_BLOCK, ACCESS_READ, 1, 3), 0);
        assert_eq!(run(&prog, DEVCG_DEV_CHAR, ACCESS_READ, 136, 7), 1);
        assert_eq!(run(&prog, DEVCG_DEV_CHAR, ACCESS_READ | 4, 136, 7), 0);
        assert_eq!(run(&prog, DEVCG_DEV_CHAR, ACCESS_READ, 1, 5), 0);
    }

    #[test]
    fn blacklist_denies_any_overlap() {
        let rules = DeviceRules {
            default_allow: true,
            exceptions: vec![Exception { kind: Kind::Block, major: Some(8), minor: None, access: 4 }],
        };
        let prog = program(&rules);
        assert_eq!(run(&prog, DEVCG_DEV_BLOCK, ACCESS_READ | 4, 8, 1), 0);
        assert_eq!(run(&prog, DEVCG_DEV_BLOCK, ACCESS_READ, 8, 1), 1);
        assert_eq!(run(&prog, DEVCG_DEV_CHAR, 4, 8, 1), 1);
    }
}
