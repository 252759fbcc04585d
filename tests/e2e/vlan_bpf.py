#!/usr/bin/env python3
"""Makes a veth end behave like an 802.1Q VLAN subinterface where the kernel has no 8021q.

Loads two tc (cls_bpf, direct-action) programs and pins them under PIN_DIR (a bpffs mount):
  PIN_DIR/push: egress, tags every frame with VLAN VID;
  PIN_DIR/pop:  ingress, accepts only frames tagged VID (removing the tag), drops the rest,
                as a VLAN subinterface would.
Attach them with `tc filter add dev DEV egress|ingress bpf da pinned PIN_DIR/push|pop`.
The programs are a handful of hand-assembled eBPF instructions, so no compiler is needed.
"""

import argparse
import ctypes
import os
import struct
import sys

SYS_BPF = 321  # x86_64
BPF_PROG_LOAD = 5
BPF_OBJ_PIN = 6
BPF_PROG_TYPE_SCHED_CLS = 3
FUNC_SKB_VLAN_PUSH = 18
FUNC_SKB_VLAN_POP = 19
TC_ACT_OK = 0
TC_ACT_SHOT = 2
ETH_P_8021Q_BE = 0x0081  # htons(0x8100) on a little-endian machine
SKB_VLAN_PRESENT = 20  # offsetof(struct __sk_buff, vlan_present)
SKB_VLAN_TCI = 24  # offsetof(struct __sk_buff, vlan_tci)


def insn(code, dst=0, src=0, off=0, imm=0):
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def mov_imm(dst, imm):
    return insn(0xB7, dst=dst, imm=imm)  # BPF_ALU64 | BPF_MOV | BPF_K


def mov_reg(dst, src):
    return insn(0xBF, dst=dst, src=src)  # BPF_ALU64 | BPF_MOV | BPF_X


def load_u32(dst, src, off):
    return insn(0x61, dst=dst, src=src, off=off)  # BPF_LDX | BPF_MEM | BPF_W


def and_imm(dst, imm):
    return insn(0x57, dst=dst, imm=imm)  # BPF_ALU64 | BPF_AND | BPF_K


def jeq_imm(dst, imm, off):
    return insn(0x15, dst=dst, off=off, imm=imm)  # BPF_JMP | BPF_JEQ | BPF_K


def jne_imm(dst, imm, off):
    return insn(0x55, dst=dst, off=off, imm=imm)  # BPF_JMP | BPF_JNE | BPF_K


def call(func):
    return insn(0x85, imm=func)


def exit_insn():
    return insn(0x95)


def push_program(vid):
    return [
        mov_imm(2, ETH_P_8021Q_BE),
        mov_imm(3, vid),
        call(FUNC_SKB_VLAN_PUSH),  # r1 is still the skb
        mov_imm(0, TC_ACT_OK),
        exit_insn(),
    ]


def pop_program(vid):
    return [
        mov_reg(6, 1),
        load_u32(2, 1, SKB_VLAN_PRESENT),
        jeq_imm(2, 0, 7),  # untagged: drop
        load_u32(2, 1, SKB_VLAN_TCI),
        and_imm(2, 0xFFF),
        jne_imm(2, vid, 4),  # another VLAN: drop
        mov_reg(1, 6),
        call(FUNC_SKB_VLAN_POP),
        mov_imm(0, TC_ACT_OK),
        exit_insn(),
        mov_imm(0, TC_ACT_SHOT),
        exit_insn(),
    ]


libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def bpf(cmd, attr):
    buf = ctypes.create_string_buffer(attr, 128)
    result = libc.syscall(SYS_BPF, cmd, buf, 128)
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"bpf({cmd}): {os.strerror(err)}")
    return result


def load(instructions, name):
    code = ctypes.create_string_buffer(b"".join(instructions))
    license_text = ctypes.create_string_buffer(b"GPL")
    log = ctypes.create_string_buffer(65536)
    attr = struct.pack("<IIQQIIQII16s", BPF_PROG_TYPE_SCHED_CLS, len(instructions),
                       ctypes.addressof(code), ctypes.addressof(license_text), 1, len(log),
                       ctypes.addressof(log), 0, 0, name.encode())
    try:
        return bpf(BPF_PROG_LOAD, attr)
    except OSError as e:
        raise OSError(e.errno, f"{e.strerror}; verifier log:\n{log.value.decode()}") from None


def pin(fd, path):
    path_buf = ctypes.create_string_buffer(path.encode())
    bpf(BPF_OBJ_PIN, struct.pack("<QI", ctypes.addressof(path_buf), fd))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pin-dir", required=True, help="a directory on a bpffs mount")
    parser.add_argument("--vlan", type=int, required=True)
    args = parser.parse_args()
    if not 1 <= args.vlan <= 4094:
        parser.error("--vlan must be 1..4094")
    for name, program in (("push", push_program(args.vlan)), ("pop", pop_program(args.vlan))):
        path = os.path.join(args.pin_dir, name)
        if os.path.exists(path):
            os.unlink(path)
        pin(load(program, f"plk_vlan_{name}"), path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
