//! The capture socket's kernel filter: a classic BPF program over cooked packets (the network
//! header at offset 0) that passes TCP segments with either port in the fetch sockets' range and
//! ICMP/ICMPv6 errors, and cuts what it passes to the snap length in the kernel.
//!
//! A filter on the port range, not on target addresses: a program over a thousand IPv6
//! addresses would exceed the kernel's 4096-instruction limit. IPv6 packets whose TCP header
//! follows extension headers are not passed (rare on the collector's own connections).

use std::ops::RangeInclusive;

// Opcodes from linux/filter.h (class | size | mode, class | op | source).
const LD_B_ABS: u16 = 0x30;
const LD_H_ABS: u16 = 0x28;
const LD_H_IND: u16 = 0x48;
const LD_B_IND: u16 = 0x50;
const LDX_B_MSH: u16 = 0xb1;
const ALU_RSH_K: u16 = 0x74;
const JEQ_K: u16 = 0x15;
const JGE_K: u16 = 0x35;
const JGT_K: u16 = 0x25;
const JSET_K: u16 = 0x45;
const RET_K: u16 = 0x06;

/// One instruction as the kernel reads it (`struct sock_filter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

/// Where a conditional jump goes, before offsets are known.
#[derive(Clone, Copy)]
enum To {
    Next,
    Label(&'static str),
}

enum Step {
    Plain(u16, u32),
    Jump(u16, u32, To, To),
    Label(&'static str),
}

/// The filter for `ports`, passing at most `snaplen` bytes of each packet.
pub fn port_range_filter(ports: &RangeInclusive<u16>, snaplen: u32) -> Vec<Insn> {
    use Step::{Jump, Label, Plain};
    use To::{Label as L, Next};
    let (lo, hi) = (u32::from(*ports.start()), u32::from(*ports.end()));
    let steps = [
        Plain(LD_B_ABS, 0),
        Plain(ALU_RSH_K, 4),
        Jump(JEQ_K, 4, L("v4"), Next),
        Jump(JEQ_K, 6, L("v6"), L("reject")),
        Label("v4"),
        Plain(LD_B_ABS, 9),
        Jump(JEQ_K, 1, L("icmp4"), Next),
        Jump(JEQ_K, 6, Next, L("reject")),
        // A later fragment has no TCP header.
        Plain(LD_H_ABS, 6),
        Jump(JSET_K, 0x1fff, L("reject"), Next),
        Plain(LDX_B_MSH, 0),
        Plain(LD_H_IND, 0),
        Jump(JGE_K, lo, Next, L("v4_dst")),
        Jump(JGT_K, hi, L("v4_dst"), L("accept")),
        Label("v4_dst"),
        Plain(LD_H_IND, 2),
        Jump(JGE_K, lo, Next, L("reject")),
        Jump(JGT_K, hi, L("reject"), L("accept")),
        Label("icmp4"),
        Plain(LDX_B_MSH, 0),
        Plain(LD_B_IND, 0),
        // Destination unreachable, source quench, time exceeded, parameter problem.
        Jump(JEQ_K, 3, L("accept"), Next),
        Jump(JEQ_K, 4, L("accept"), Next),
        Jump(JEQ_K, 11, L("accept"), Next),
        Jump(JEQ_K, 12, L("accept"), L("reject")),
        Label("v6"),
        Plain(LD_B_ABS, 6),
        Jump(JEQ_K, 58, L("icmp6"), Next),
        Jump(JEQ_K, 6, Next, L("reject")),
        Plain(LD_H_ABS, 40),
        Jump(JGE_K, lo, Next, L("v6_dst")),
        Jump(JGT_K, hi, L("v6_dst"), L("accept")),
        Label("v6_dst"),
        Plain(LD_H_ABS, 42),
        Jump(JGE_K, lo, Next, L("reject")),
        Jump(JGT_K, hi, L("reject"), L("accept")),
        Label("icmp6"),
        // ICMPv6 errors are types 1 to 127.
        Plain(LD_B_ABS, 40),
        Jump(JGE_K, 128, L("reject"), L("accept")),
        Label("accept"),
        Plain(RET_K, snaplen),
        Label("reject"),
        Plain(RET_K, 0),
    ];
    assemble(&steps)
}

/// Resolves labels into the relative forward offsets cBPF jumps use.
fn assemble(steps: &[Step]) -> Vec<Insn> {
    let mut labels = std::collections::HashMap::new();
    let mut index = 0usize;
    for step in steps {
        match step {
            Step::Label(name) => {
                labels.insert(*name, index);
            }
            _ => index += 1,
        }
    }
    let mut program = Vec::with_capacity(index);
    for step in steps {
        let here = program.len();
        let offset = |to: &To| -> u8 {
            match to {
                To::Next => 0,
                To::Label(name) => {
                    let target = labels[name];
                    u8::try_from(target - here - 1).expect("filter jumps are short and forward")
                }
            }
        };
        match step {
            Step::Label(_) => {}
            Step::Plain(code, k) => program.push(Insn { code: *code, jt: 0, jf: 0, k: *k }),
            Step::Jump(code, k, jt, jf) => {
                program.push(Insn { code: *code, jt: offset(jt), jf: offset(jf), k: *k })
            }
        }
    }
    program
}

pub fn to_socket_filter(program: &[Insn]) -> Vec<socket2::SockFilter> {
    program.iter().map(|i| socket2::SockFilter::new(i.code, i.jt, i.jf, i.k)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    /// The few cBPF operations the filter uses, run as the kernel runs them: a load past the
    /// packet's end rejects it.
    fn run(program: &[Insn], packet: &[u8]) -> u32 {
        let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
        let byte = |at: usize| packet.get(at).map(|b| u32::from(*b));
        let half = |at: usize| Some(u32::from(u16::from_be_bytes([*packet.get(at)?, *packet.get(at + 1)?])));
        loop {
            let i = program[pc];
            pc += 1;
            let k = i.k as usize;
            let loaded = match i.code {
                LD_B_ABS => byte(k),
                LD_H_ABS => half(k),
                LD_B_IND => byte(x as usize + k),
                LD_H_IND => half(x as usize + k),
                LDX_B_MSH => {
                    let Some(b) = byte(k) else { return 0 };
                    x = (b & 0xf) * 4;
                    continue;
                }
                ALU_RSH_K => Some(a >> i.k),
                RET_K => return i.k,
                code => {
                    let taken = match code {
                        JEQ_K => a == i.k,
                        JGE_K => a >= i.k,
                        JGT_K => a > i.k,
                        JSET_K => a & i.k != 0,
                        other => panic!("opcode {other:#x} not in the interpreter"),
                    };
                    pc += usize::from(if taken { i.jt } else { i.jf });
                    continue;
                }
            };
            match loaded {
                Some(v) => a = v,
                None => return 0,
            }
        }
    }

    fn tcp4(sport: u16, dport: u16) -> Vec<u8> {
        let mut out = Vec::new();
        PacketBuilder::ipv4([192, 0, 2, 1], [198, 51, 100, 1], 64)
            .tcp(sport, dport, 1, 1000)
            .syn()
            .write(&mut out, &[])
            .unwrap();
        out
    }

    fn tcp6(sport: u16, dport: u16) -> Vec<u8> {
        let mut out = Vec::new();
        PacketBuilder::ipv6([0x20, 1, 0xd, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], [2; 16], 64)
            .tcp(sport, dport, 1, 1000)
            .write(&mut out, b"GET /")
            .unwrap();
        out
    }

    #[test]
    fn passes_tcp_with_either_port_in_range_and_cuts_to_the_snap_length() {
        let program = port_range_filter(&(61000..=61099), 256);
        for packet in [tcp4(61000, 80), tcp4(443, 61099), tcp6(61050, 80), tcp6(80, 61000)] {
            assert_eq!(run(&program, &packet), 256);
        }
        for packet in [tcp4(60999, 80), tcp4(80, 61100), tcp6(1234, 80), tcp6(80, 65535)] {
            assert_eq!(run(&program, &packet), 0);
        }
    }

    #[test]
    fn finds_the_tcp_header_after_ipv4_options() {
        let mut packet = tcp4(80, 61010);
        // Grow the header by one 4-byte option (NOP NOP NOP EOL) before the TCP header.
        packet[0] = 0x46;
        packet.splice(20..20, [1, 1, 1, 0]);
        assert_eq!(run(&port_range_filter(&(61000..=61099), 128), &packet), 128);
        let mut other = tcp4(80, 5000);
        other[0] = 0x46;
        other.splice(20..20, [61010u16.to_be_bytes()[0], 61010u16.to_be_bytes()[1], 0, 0]);
        assert_eq!(run(&port_range_filter(&(61000..=61099), 128), &other), 0);
    }

    #[test]
    fn passes_icmp_errors_but_not_echo_udp_or_later_fragments() {
        let program = port_range_filter(&(61000..=61099), 256);
        let mut unreachable = Vec::new();
        PacketBuilder::ipv4([198, 51, 100, 254], [192, 0, 2, 1], 64)
            .icmpv4(etherparse::Icmpv4Type::DestinationUnreachable(
                etherparse::icmpv4::DestUnreachableHeader::Host,
            ))
            .write(&mut unreachable, &tcp4(61000, 80)[..28])
            .unwrap();
        assert_eq!(run(&program, &unreachable), 256);
        let mut echo = Vec::new();
        PacketBuilder::ipv4([192, 0, 2, 1], [198, 51, 100, 1], 64)
            .icmpv4_echo_request(1, 1)
            .write(&mut echo, b"ping")
            .unwrap();
        assert_eq!(run(&program, &echo), 0);
        let mut unreachable6 = Vec::new();
        PacketBuilder::ipv6([2; 16], [1; 16], 64)
            .icmpv6(etherparse::Icmpv6Type::DestinationUnreachable(
                etherparse::icmpv6::DestUnreachableCode::Address,
            ))
            .write(&mut unreachable6, &tcp6(61000, 80)[..48])
            .unwrap();
        assert_eq!(run(&program, &unreachable6), 256);
        let mut echo6 = Vec::new();
        PacketBuilder::ipv6([2; 16], [1; 16], 64).icmpv6_echo_request(1, 1).write(&mut echo6, b"x").unwrap();
        assert_eq!(run(&program, &echo6), 0);
        let mut udp = Vec::new();
        PacketBuilder::ipv4([192, 0, 2, 1], [198, 51, 100, 1], 64)
            .udp(61000, 53)
            .write(&mut udp, b"q")
            .unwrap();
        assert_eq!(run(&program, &udp), 0);
        let mut fragment = tcp4(61000, 80);
        fragment[6..8].copy_from_slice(&100u16.to_be_bytes());
        assert_eq!(run(&program, &fragment), 0);
        assert_eq!(run(&program, &[0x45, 0, 0]), 0, "a cut packet is rejected, not read past its end");
    }
}
