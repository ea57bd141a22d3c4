/**
 * Unit tests of our SBPFv1 linker (programs/build/link.ts) on small relocatable objects written here,
 * byte by byte, the way llc lays them out: code in two sections, rodata, a table of pointers, calls to
 * syscalls and across sections, LLVM's __bpf_trap. The deploy tests run its output through the real loader.
 */
import {
  LinkError,
  MM_PROGRAM_START,
  R_BPF_64_32,
  R_BPF_64_64,
  R_BPF_64_ABS64,
  linkSbpfV1,
} from '../../programs/build/link';

interface InSection {
  name: string;
  type?: number;
  flags: number;
  data: Buffer;
  align?: number;
}
interface InSymbol {
  name: string;
  section: string | null; // null: undefined symbol
  value?: number;
  bind: 'local' | 'global';
  type: 'section' | 'func' | 'object' | 'notype';
}
interface InReloc {
  section: string;
  offset: number;
  type: number;
  symbol: string;
}

const SHF_WRITE = 1;
const SHF_ALLOC = 2;
const SHF_EXEC = 4;

const insn = (opc: number, regs: number, off: number, imm: number): Buffer => {
  const b = Buffer.alloc(8);
  b[0] = opc;
  b[1] = regs;
  b.writeInt16LE(off, 2);
  b.writeInt32LE(imm, 4);
  return b;
};
const lddw = (dst: number, imm: number) => Buffer.concat([insn(0x18, dst, 0, imm), insn(0, 0, 0, 0)]);
const call = (imm: number) => insn(0x85, 0x10, 0, imm);
const exit = () => insn(0x95, 0, 0, 0);
const mov = (dst: number, imm: number) => insn(0xb7, dst, 0, imm);

/** Writes an ELF64 little-endian relocatable object (REL relocations, as the BPF backend emits). */
function relocatable(sections: InSection[], symbols: InSymbol[], relocs: InReloc[], machine = 247): Buffer {
  const names: string[] = [];
  const all: Array<InSection & { link?: number; info?: number; entsize?: number }> = [...sections];
  const index = (name: string) => all.findIndex((s) => s.name === name) + 1;
  const strtab = ['\0'];
  const symNames = symbols.map((s) => {
    if (!s.name) return 0;
    const at = strtab.join('').length;
    strtab.push(`${s.name}\0`);
    return at;
  });
  const ordered = [...symbols.filter((s) => s.bind === 'local'), ...symbols.filter((s) => s.bind === 'global')];
  const symtab = Buffer.alloc(24 * (ordered.length + 1));
  ordered.forEach((s, i) => {
    const p = 24 * (i + 1);
    symtab.writeUInt32LE(symNames[symbols.indexOf(s)] ?? 0, p);
    const type = { section: 3, func: 2, object: 1, notype: 0 }[s.type];
    symtab[p + 4] = ((s.bind === 'global' ? 1 : 0) << 4) | type;
    symtab.writeUInt16LE(s.section === null ? 0 : index(s.section), p + 6);
    symtab.writeBigUInt64LE(BigInt(s.value ?? 0), p + 8);
  });
  for (const target of [...new Set(relocs.map((r) => r.section))]) {
    const rs = relocs.filter((r) => r.section === target);
    const data = Buffer.alloc(16 * rs.length);
    rs.forEach((r, i) => {
      data.writeBigUInt64LE(BigInt(r.offset), 16 * i);
      const sym = ordered.findIndex((s) => s.name === r.symbol) + 1;
      data.writeBigUInt64LE((BigInt(sym) << 32n) | BigInt(r.type), 16 * i + 8);
    });
    all.push({ name: `.rel${target}`, type: 9, flags: 0, data, info: index(target), entsize: 16, align: 8 });
  }
  const symtabIndex = all.length + 1;
  all.push({
    name: '.symtab',
    type: 2,
    flags: 0,
    data: symtab,
    link: symtabIndex + 1,
    info: symbols.filter((s) => s.bind === 'local').length + 1,
    entsize: 24,
    align: 8,
  });
  all.push({ name: '.strtab', type: 3, flags: 0, data: Buffer.from(strtab.join(''), 'latin1') });
  for (const s of all) if (s.type === 9) s.link = symtabIndex;
  all.push({ name: '.shstrtab', type: 3, flags: 0, data: Buffer.alloc(0) });
  const shstr = ['\0'];
  for (const s of all) {
    names.push(s.name);
    shstr.push(`${s.name}\0`);
  }
  const shstrtab = all[all.length - 1];
  if (shstrtab) shstrtab.data = Buffer.from(shstr.join(''), 'latin1');

  const parts: Buffer[] = [Buffer.alloc(64)];
  let at = 64;
  const offsets = all.map((s) => {
    const pad = (8 - (at % 8)) % 8;
    parts.push(Buffer.alloc(pad), s.data);
    at += pad + s.data.length;
    return at - s.data.length;
  });
  const shoff = at + ((8 - (at % 8)) % 8);
  parts.push(Buffer.alloc(shoff - at));
  const shdrs = Buffer.alloc(64 * (all.length + 1));
  let nameAt = 1;
  all.forEach((s, i) => {
    const p = 64 * (i + 1);
    shdrs.writeUInt32LE(nameAt, p);
    nameAt += s.name.length + 1;
    shdrs.writeUInt32LE(s.type ?? 1, p + 4);
    shdrs.writeBigUInt64LE(BigInt(s.flags), p + 8);
    shdrs.writeBigUInt64LE(BigInt(offsets[i] ?? 0), p + 24);
    shdrs.writeBigUInt64LE(BigInt(s.data.length), p + 32);
    shdrs.writeUInt32LE(s.link ?? 0, p + 40);
    shdrs.writeUInt32LE(s.info ?? 0, p + 44);
    shdrs.writeBigUInt64LE(BigInt(s.align ?? 1), p + 48);
    shdrs.writeBigUInt64LE(BigInt(s.entsize ?? 0), p + 56);
  });
  parts.push(shdrs);
  const obj = Buffer.concat(parts);
  obj.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0], 0);
  obj.writeUInt16LE(1, 16); // ET_REL
  obj.writeUInt16LE(machine, 18);
  obj.writeUInt32LE(1, 20);
  obj.writeBigUInt64LE(BigInt(shoff), 40);
  obj.writeUInt16LE(64, 52);
  obj.writeUInt16LE(64, 58);
  obj.writeUInt16LE(all.length + 1, 60);
  obj.writeUInt16LE(all.length, 62);
  return obj;
}

/** The section headers of the output, by name. */
function outputSections(so: Buffer) {
  const shoff = Number(so.readBigUInt64LE(40));
  const shnum = so.readUInt16LE(60);
  const strOff = Number(so.readBigUInt64LE(shoff + 64 * so.readUInt16LE(62) + 24));
  const sections = new Map<string, { type: number; addr: number; offset: number; size: number; link: number }>();
  for (let i = 1; i < shnum; i++) {
    const p = shoff + 64 * i;
    const nameAt = strOff + so.readUInt32LE(p);
    sections.set(so.toString('latin1', nameAt, so.indexOf(0, nameAt)), {
      type: so.readUInt32LE(p + 4),
      addr: Number(so.readBigUInt64LE(p + 16)),
      offset: Number(so.readBigUInt64LE(p + 24)),
      size: Number(so.readBigUInt64LE(p + 32)),
      link: so.readUInt32LE(p + 40),
    });
  }
  return sections;
}

const rodata = Buffer.from('padding!hello, world', 'latin1');

/** A program in the shape llc gives: entrypoint in .text, a cold function in .text.unlikely., rodata and a table. */
function sampleObject(
  extra: { sections?: InSection[]; relocs?: InReloc[]; entry?: string; machine?: number } = {},
): Buffer {
  const text = Buffer.concat([
    lddw(1, 8), // 0: r1 = .rodata + 8 ("hello, world")
    mov(2, 12), // 16
    call(-1), // 24: sol_log_
    call(0), // 32: .text.unlikely. + (0 + 1) * 8: `cold`
    lddw(2, 0), // 40: r2 = the table
    call(1), // 56: a call inside .text, already pc-relative (to 72): no relocation
    exit(), // 64
    exit(), // 72
  ]);
  const unlikely = Buffer.concat([exit(), call(-1) /* __bpf_trap */, exit()]);
  const table = Buffer.alloc(8);
  table.writeBigUInt64LE(8n, 0); // implicit addend: .rodata + 8
  return relocatable(
    [
      { name: '.text', flags: SHF_ALLOC | SHF_EXEC, data: text, align: 8 },
      { name: '.text.unlikely.', flags: SHF_ALLOC | SHF_EXEC, data: unlikely, align: 8 },
      { name: '.rodata', flags: SHF_ALLOC, data: rodata },
      { name: '.data.rel.ro', flags: SHF_ALLOC | SHF_WRITE, data: table, align: 8 },
      { name: '.debug_str', flags: 0, data: Buffer.from('debug\0') },
      ...(extra.sections ?? []),
    ],
    [
      { name: '.text', section: '.text', bind: 'local', type: 'section' },
      { name: '.rodata', section: '.rodata', bind: 'local', type: 'section' },
      { name: '.data.rel.ro', section: '.data.rel.ro', bind: 'local', type: 'section' },
      { name: '.text.unlikely.', section: '.text.unlikely.', bind: 'local', type: 'section' },
      { name: 'cold', section: '.text.unlikely.', value: 8, bind: 'local', type: 'func' },
      { name: extra.entry ?? 'entrypoint', section: '.text', value: 0, bind: 'global', type: 'func' },
      { name: 'sol_log_', section: null, bind: 'global', type: 'notype' },
      { name: '__bpf_trap', section: null, bind: 'global', type: 'notype' },
    ],
    [
      { section: '.text', offset: 0, type: R_BPF_64_64, symbol: '.rodata' },
      { section: '.text', offset: 24, type: R_BPF_64_32, symbol: 'sol_log_' },
      { section: '.text', offset: 32, type: R_BPF_64_32, symbol: '.text.unlikely.' },
      { section: '.text', offset: 40, type: R_BPF_64_64, symbol: '.data.rel.ro' },
      { section: '.text.unlikely.', offset: 8, type: R_BPF_64_32, symbol: '__bpf_trap' },
      { section: '.data.rel.ro', offset: 0, type: R_BPF_64_ABS64, symbol: '.rodata' },
      ...(extra.relocs ?? []),
    ],
    extra.machine,
  );
}

describe('linkSbpfV1', () => {
  const result = linkSbpfV1(sampleObject());
  const { so, text } = result;
  const sections = outputSections(so);
  const lddwValue = (at: number) => BigInt(so.readUInt32LE(at + 4)) | (BigInt(so.readUInt32LE(at + 12)) << 32n);

  test('writes an ET_DYN EM_BPF SBPFv1 object whose sections sit at their file offsets', () => {
    expect(so.readUInt32BE(0)).toBe(0x7f454c46);
    expect(so.readUInt16LE(16)).toBe(3); // ET_DYN
    expect(so.readUInt16LE(18)).toBe(247); // EM_BPF
    expect(so.readUInt32LE(48)).toBe(0); // e_flags: SBPFv1
    expect([...sections.keys()]).toEqual([
      '.text',
      '.rodata',
      '.dynamic',
      '.dynsym',
      '.dynstr',
      '.rel.dyn',
      '.shstrtab',
    ]);
    for (const [name, s] of sections) if (name !== '.shstrtab') expect(s.addr).toBe(s.offset);
    // Both code sections in the one .text; the debug section dropped.
    expect(sections.get('.text')).toMatchObject({ offset: text.offset, size: 80 + 24 });
    expect(so.includes(Buffer.from('debug\0'))).toBe(false);
  });

  test('the entry point is `entrypoint`, exported in .dynsym', () => {
    expect(Number(so.readBigUInt64LE(24))).toBe(text.offset);
    expect(result.entryOffset).toBe(0);
    const dynstr = sections.get('.dynstr');
    expect(so.toString('latin1', dynstr?.offset, (dynstr?.offset ?? 0) + (dynstr?.size ?? 0))).toContain('entrypoint');
  });

  test('lddw and data pointers get 0x1_0000_0000 + address', () => {
    const rodataAt = result.rodata.offset;
    expect(so.toString('latin1', rodataAt, rodataAt + rodata.length)).toBe(rodata.toString('latin1'));
    expect(lddwValue(text.offset)).toBe(MM_PROGRAM_START + BigInt(rodataAt + 8));
    const tableAt = Number(lddwValue(text.offset + 40) - MM_PROGRAM_START);
    expect(tableAt % 8).toBe(0);
    expect(tableAt).toBeGreaterThanOrEqual(rodataAt + rodata.length);
    expect(so.readBigUInt64LE(tableAt)).toBe(MM_PROGRAM_START + BigInt(rodataAt + 8));
  });

  test('calls into the program are pc-relative; those already so are left alone', () => {
    const coldAt = text.offset + 80 + 8; // .text is 80 bytes; `cold` is 8 bytes into .text.unlikely.
    const callAt = text.offset + 32;
    expect(so.readInt32LE(callAt + 4)).toBe((coldAt - (callAt + 8)) / 8);
    expect(so.readInt32LE(text.offset + 56 + 4)).toBe(1);
  });

  test('syscalls stay `call -1` with a dynamic R_BPF_64_32 against the named symbol; __bpf_trap is abort', () => {
    expect(result.syscalls).toEqual(['abort', 'sol_log_']);
    const rel = sections.get('.rel.dyn');
    const dynsym = sections.get('.dynsym');
    const dynstr = sections.get('.dynstr');
    if (!rel || !dynsym || !dynstr) throw new Error('missing dynamic sections');
    const relocs = [];
    for (let p = rel.offset; p < rel.offset + rel.size; p += 16) {
      const at = Number(so.readBigUInt64LE(p));
      const info = so.readBigUInt64LE(p + 8);
      const sym = dynsym.offset + 24 * Number(info >> 32n);
      const nameAt = dynstr.offset + so.readUInt32LE(sym);
      relocs.push({
        at: at - text.offset,
        type: Number(info & 0xffffffffn),
        name: so.toString('latin1', nameAt, so.indexOf(0, nameAt)),
        imm: so.readInt32LE(at + 4),
        value: Number(so.readBigUInt64LE(sym + 8)),
      });
    }
    expect(relocs).toEqual([
      { at: 24, type: R_BPF_64_32, name: 'sol_log_', imm: -1, value: 0 },
      { at: 80 + 8, type: R_BPF_64_32, name: 'abort', imm: -1, value: 0 },
    ]);
  });

  test('the dynamic table points at .dynsym, .dynstr and .rel.dyn, inside a PT_LOAD', () => {
    const dynamic = sections.get('.dynamic');
    if (!dynamic) throw new Error('no .dynamic');
    const tags = new Map<number, number>();
    for (let p = dynamic.offset; p < dynamic.offset + dynamic.size; p += 16) {
      tags.set(Number(so.readBigUInt64LE(p)), Number(so.readBigUInt64LE(p + 8)));
    }
    expect(tags.get(6)).toBe(sections.get('.dynsym')?.addr); // DT_SYMTAB
    expect(tags.get(5)).toBe(sections.get('.dynstr')?.addr); // DT_STRTAB
    expect(tags.get(17)).toBe(sections.get('.rel.dyn')?.addr); // DT_REL
    expect(tags.get(18)).toBe(32); // DT_RELSZ
    expect(tags.get(19)).toBe(16); // DT_RELENT
    const phdrs = Array.from({ length: so.readUInt16LE(56) }, (_, i) => {
      const p = 64 + 56 * i;
      return {
        type: so.readUInt32LE(p),
        offset: Number(so.readBigUInt64LE(p + 8)),
        size: Number(so.readBigUInt64LE(p + 32)),
      };
    });
    expect(phdrs.map((p) => p.type)).toEqual([1, 1, 1, 2]);
    const inLoad = (addr: number) => phdrs.some((p) => p.type === 1 && addr >= p.offset && addr < p.offset + p.size);
    for (const tag of [5, 6, 17]) expect(inLoad(tags.get(tag) ?? -1)).toBe(true);
    expect(phdrs[3]).toMatchObject({ offset: dynamic.offset, size: dynamic.size });
  });

  test('the same object links to the same bytes', () => {
    expect(linkSbpfV1(sampleObject()).so.equals(so)).toBe(true);
  });

  test('refuses what SBPFv1 cannot load, saying why', () => {
    expect(() => linkSbpfV1(sampleObject({ machine: 62 }))).toThrow(/not a BPF object \(e_machine 62\)/);
    expect(() => linkSbpfV1(sampleObject({ entry: 'main' }))).toThrow(/no global function `entrypoint`/);
    expect(() =>
      linkSbpfV1(sampleObject({ sections: [{ name: '.data', flags: SHF_ALLOC | SHF_WRITE, data: Buffer.alloc(8) }] })),
    ).toThrow(LinkError);
    expect(() =>
      linkSbpfV1(
        sampleObject({ sections: [{ name: '.bss', type: 8, flags: SHF_ALLOC | SHF_WRITE, data: Buffer.alloc(8) }] }),
      ),
    ).toThrow(/zero-initialised writable data/);
    expect(() =>
      linkSbpfV1(sampleObject({ relocs: [{ section: '.text', offset: 16, type: R_BPF_64_32, symbol: 'sol_log_' }] })),
    ).toThrow(/R_BPF_64_32 not on a call/);
    expect(() => linkSbpfV1(Buffer.from('not an elf'))).toThrow(/not an ELF file/);
  });
});
