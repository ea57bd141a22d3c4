/**
 * Our own linker for Solana programs: turns the ELF64 relocatable object that
 * `llc-22 -march=bpfel -mcpu=v1 -filetype=obj` writes into the ET_DYN shared object the SBPFv1
 * loader (rbpf 0.8, Solana runtime 1.18) accepts. Upstream ld.lld has no BPF target that can do it.
 *
 * What the loader wants (checked against its source; /work/shared/notes/solana-program-build.md):
 *   - ET_DYN, EM_BPF, e_flags 0 (SBPFv1), every section's address equal to its file offset;
 *   - exactly one `.text`; read-only data in `.rodata` (the only other section it maps);
 *   - PT_LOAD segments for the text, the rodata and the dynamic tables, plus PT_DYNAMIC;
 *   - `.dynamic`, `.dynsym`, `.dynstr`, `.rel.dyn`: a syscall is `call -1` with a dynamic
 *     R_BPF_64_32 relocation against its named (undefined) symbol, which the loader hashes; any other
 *     call immediate is read as a pc-relative call;
 *   - the entry point in e_entry (and `entrypoint` exported in `.dynsym`).
 *
 * Output layout (file offset == address; the VM maps it at 0x1_0000_0000):
 *   ELF header | program headers | .text | .rodata | .dynamic | .dynsym | .dynstr | .rel.dyn | .shstrtab | section headers
 *
 * Everything but syscalls is resolved here, statically: `lddw` immediates and 64-bit data pointers get
 * 0x1_0000_0000 + address, calls between functions become pc-relative, LLVM's `__bpf_trap` becomes
 * the `abort` syscall. Debug, BTF and unwind sections are dropped. Writable data (.data, .bss) is refused:
 * SBPFv1 programs have no writable globals.
 */

/** Where the SBPF VM maps the program's read-only region (text and rodata). */
export const MM_PROGRAM_START = 0x1_0000_0000n;

const EM_BPF = 247;
const ET_REL = 1;
const ET_DYN = 3;

const SHT_PROGBITS = 1;
const SHT_SYMTAB = 2;
const SHT_STRTAB = 3;
const SHT_DYNAMIC = 6;
const SHT_NOBITS = 8;
const SHT_REL = 9;
const SHT_DYNSYM = 11;
const SHF_WRITE = 0x1n;
const SHF_ALLOC = 0x2n;
const SHF_EXECINSTR = 0x4n;

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PF_X = 1;
const PF_W = 2;
const PF_R = 4;

const DT_NULL = 0;
const DT_STRTAB = 5;
const DT_SYMTAB = 6;
const DT_STRSZ = 10;
const DT_SYMENT = 11;
const DT_REL = 17;
const DT_RELSZ = 18;
const DT_RELENT = 19;
const DT_TEXTREL = 22;
const DT_FLAGS = 30;
const DF_TEXTREL = 4;

/** BPF relocation types (LLVM's ELFRelocs/BPF.def). */
export const R_BPF_NONE = 0;
export const R_BPF_64_64 = 1; // lddw: S + A into the two 32-bit immediates
export const R_BPF_64_ABS64 = 2; // 64-bit data: S + A
export const R_BPF_64_ABS32 = 3; // 32-bit data (debug info only)
export const R_BPF_64_NODYLD32 = 4; // .BTF.ext (dropped with it)
export const R_BPF_64_32 = 10; // call: target (S + A), A = (imm + 1) * 8

const STB_GLOBAL = 1;
const STT_NOTYPE = 0;
const STT_FUNC = 2;
const SHN_UNDEF = 0;
const SHN_ABS = 0xfff1;

const EHDR_SIZE = 64;
const PHDR_SIZE = 56;
const SHDR_SIZE = 64;
const SYM_SIZE = 24;
const REL_SIZE = 16;
const DYN_SIZE = 16;
const INSN_SIZE = 8;
const OPC_CALL = 0x85;
const OPC_LDDW = 0x18;

/** Undefined symbols that are not syscalls under their own name. */
const SYSCALL_ALIASES: Record<string, string> = { __bpf_trap: 'abort' };

export class LinkError extends Error {
  override name = 'LinkError';
}

export interface LinkOptions {
  /** The exported entry symbol (default `entrypoint`). */
  entry?: string;
}

export interface LinkResult {
  /** The shared object, ready to deploy. */
  so: Buffer;
  /** File offset (== address) and size of `.text` and `.rodata`. */
  text: { offset: number; size: number };
  rodata: { offset: number; size: number };
  /** Offset of the entry point within `.text`. */
  entryOffset: number;
  /** The syscalls the program calls, sorted. */
  syscalls: string[];
}

interface Section {
  index: number;
  name: string;
  type: number;
  flags: bigint;
  offset: number;
  size: number;
  link: number;
  info: number;
  align: number;
  entsize: number;
}

interface Sym {
  name: string;
  value: number;
  size: number;
  info: number;
  shndx: number;
}

const align = (n: number, a: number): number => (a > 1 ? Math.ceil(n / a) * a : n);

function cString(buf: Buffer, at: number): string {
  const end = buf.indexOf(0, at);
  return buf.toString('latin1', at, end < 0 ? buf.length : end);
}

/** Reads the parts of an ELF64 little-endian relocatable object this linker needs. */
export function readObject(obj: Buffer): { sections: Section[]; symbols: Sym[] } {
  if (obj.length < EHDR_SIZE || obj.readUInt32BE(0) !== 0x7f454c46) throw new LinkError('not an ELF file');
  if (obj[4] !== 2 || obj[5] !== 1) throw new LinkError('not a 64-bit little-endian ELF');
  if (obj.readUInt16LE(16) !== ET_REL) throw new LinkError(`not a relocatable object (e_type ${obj.readUInt16LE(16)})`);
  if (obj.readUInt16LE(18) !== EM_BPF) throw new LinkError(`not a BPF object (e_machine ${obj.readUInt16LE(18)})`);
  const shoff = Number(obj.readBigUInt64LE(40));
  const shnum = obj.readUInt16LE(60);
  const shstrndx = obj.readUInt16LE(62);
  const raw = Array.from({ length: shnum }, (_, index) => {
    const at = shoff + index * SHDR_SIZE;
    if (at + SHDR_SIZE > obj.length) throw new LinkError('section header table runs past the end of the file');
    return {
      index,
      nameOffset: obj.readUInt32LE(at),
      type: obj.readUInt32LE(at + 4),
      flags: obj.readBigUInt64LE(at + 8),
      offset: Number(obj.readBigUInt64LE(at + 24)),
      size: Number(obj.readBigUInt64LE(at + 32)),
      link: obj.readUInt32LE(at + 40),
      info: obj.readUInt32LE(at + 44),
      align: Number(obj.readBigUInt64LE(at + 48)),
      entsize: Number(obj.readBigUInt64LE(at + 56)),
    };
  });
  const names = raw[shstrndx];
  if (!names) throw new LinkError('no section name table');
  const sections: Section[] = raw.map(({ nameOffset, ...s }) => ({
    ...s,
    name: cString(obj, names.offset + nameOffset),
  }));
  const symtab = sections.find((s) => s.type === SHT_SYMTAB);
  const symbols: Sym[] = [];
  if (symtab) {
    const strtab = sections[symtab.link];
    if (!strtab) throw new LinkError('symbol table has no string table');
    for (let at = symtab.offset; at < symtab.offset + symtab.size; at += SYM_SIZE) {
      symbols.push({
        name: cString(obj, strtab.offset + obj.readUInt32LE(at)),
        info: obj[at + 4] ?? 0,
        shndx: obj.readUInt16LE(at + 6),
        value: Number(obj.readBigUInt64LE(at + 8)),
        size: Number(obj.readBigUInt64LE(at + 16)),
      });
    }
  }
  return { sections, symbols };
}

/** Links one BPF relocatable object into an SBPFv1 shared object. */
export function linkSbpfV1(obj: Buffer, options: LinkOptions = {}): LinkResult {
  const entryName = options.entry ?? 'entrypoint';
  const { sections, symbols } = readObject(obj);

  // 1. Which input sections go where: code into .text, read-only data into .rodata, the rest is dropped.
  const textInputs: Section[] = [];
  const rodataInputs: Section[] = [];
  for (const s of sections) {
    // Unwind tables are of no use to the VM (panics abort), and their relocations are 32-bit.
    if (!(s.flags & SHF_ALLOC) || s.size === 0 || s.name === '.eh_frame') continue;
    if (s.type === SHT_NOBITS)
      throw new LinkError(`${s.name}: zero-initialised writable data is not supported in SBPFv1`);
    if (s.type !== SHT_PROGBITS) continue;
    if (s.flags & SHF_EXECINSTR) textInputs.push(s);
    else if (s.flags & SHF_WRITE && !s.name.startsWith('.data.rel.ro'))
      throw new LinkError(`${s.name}: writable data is not supported in SBPFv1 (use constants, or account data)`);
    else rodataInputs.push(s);
  }
  if (textInputs.length === 0) throw new LinkError('the object has no code');

  // 2. Layout: header and four program headers, then .text, then .rodata.
  const phnum = 4;
  const textOffset = align(EHDR_SIZE + phnum * PHDR_SIZE, 8);
  const placed = new Map<number, number>(); // input section index -> output address
  let at = textOffset;
  for (const s of textInputs) {
    at = align(at, Math.max(INSN_SIZE, s.align));
    placed.set(s.index, at);
    at += s.size;
  }
  const textSize = at - textOffset;
  const rodataOffset = align(at, 8);
  at = rodataOffset;
  for (const s of rodataInputs) {
    at = align(at, s.align);
    placed.set(s.index, at);
    at += s.size;
  }
  const rodataSize = at - rodataOffset;
  const image = Buffer.alloc(at); // the loaded part of the output file, from offset 0
  for (const s of [...textInputs, ...rodataInputs])
    obj.copy(image, placed.get(s.index) ?? 0, s.offset, s.offset + s.size);

  const inText = (addr: number) => addr >= textOffset && addr < textOffset + textSize;
  const addressOf = (sym: Sym): number | undefined => {
    if (sym.shndx === SHN_ABS) return sym.value;
    const base = placed.get(sym.shndx);
    return base === undefined ? undefined : base + sym.value;
  };

  // 3. Relocations: resolved into the image, except calls to syscalls, which the loader resolves.
  const syscallCalls: Array<{ offset: number; name: string }> = [];
  for (const rel of sections.filter((s) => s.type === SHT_REL)) {
    const base = placed.get(rel.info);
    if (base === undefined) continue; // relocations of a dropped (debug, BTF) section
    const target = sections[rel.info];
    for (let r = rel.offset; r < rel.offset + rel.size; r += REL_SIZE) {
      const where = base + Number(obj.readBigUInt64LE(r));
      const type = obj.readUInt32LE(r + 8);
      const sym = symbols[obj.readUInt32LE(r + 12)];
      if (!sym) throw new LinkError(`${rel.name}: relocation against a missing symbol`);
      const symAddr = addressOf(sym);
      const what = `${rel.name} at 0x${(where - base).toString(16)} (${sym.name || 'section symbol'})`;
      switch (type) {
        case R_BPF_NONE:
          break;
        case R_BPF_64_64: {
          // lddw: the implicit addend is the 64-bit immediate split over the instruction's two slots.
          if (image[where] !== OPC_LDDW) throw new LinkError(`${what}: R_BPF_64_64 not on an lddw`);
          if (symAddr === undefined) throw new LinkError(`${what}: address of undefined symbol ${sym.name}`);
          const addend = BigInt(image.readUInt32LE(where + 4)) | (BigInt(image.readUInt32LE(where + 12)) << 32n);
          const value = MM_PROGRAM_START + BigInt(symAddr) + addend;
          image.writeUInt32LE(Number(value & 0xffffffffn), where + 4);
          image.writeUInt32LE(Number(value >> 32n), where + 12);
          break;
        }
        case R_BPF_64_ABS64: {
          if (symAddr === undefined) throw new LinkError(`${what}: pointer to undefined symbol ${sym.name}`);
          if (target && target.flags & SHF_EXECINSTR) throw new LinkError(`${what}: data relocation in code`);
          image.writeBigUInt64LE(MM_PROGRAM_START + BigInt(symAddr) + image.readBigUInt64LE(where), where);
          break;
        }
        case R_BPF_64_32: {
          if (image[where] !== OPC_CALL) throw new LinkError(`${what}: R_BPF_64_32 not on a call`);
          if (symAddr === undefined) {
            // A syscall: stays `call -1`, resolved by name at load time.
            image.writeInt32LE(-1, where + 4);
            syscallCalls.push({ offset: where, name: SYSCALL_ALIASES[sym.name] ?? sym.name });
          } else {
            // A call into our own code: the object encodes target = S + (imm + 1) * 8; make it pc-relative.
            const callee = symAddr + (image.readInt32LE(where + 4) + 1) * INSN_SIZE;
            if (!inText(callee)) throw new LinkError(`${what}: call target outside .text`);
            image.writeInt32LE((callee - (where + INSN_SIZE)) / INSN_SIZE, where + 4);
          }
          break;
        }
        default:
          throw new LinkError(`${what}: relocation type ${type} is not supported`);
      }
    }
  }

  // 4. The entry point.
  const entry = symbols.find((s) => s.name === entryName && s.info >> 4 === STB_GLOBAL);
  const entryAddr = entry && addressOf(entry);
  if (!entry || entryAddr === undefined || !inText(entryAddr)) {
    throw new LinkError(`no global function \`${entryName}\` in the code (export it with #[no_mangle])`);
  }

  // 5. Dynamic tables: .dynsym = [null, entrypoint, syscalls...], .rel.dyn = one R_BPF_64_32 per syscall call.
  const syscalls = [...new Set(syscallCalls.map((c) => c.name))].sort();
  const dynstr = new StringTable();
  const dynsym = Buffer.alloc(SYM_SIZE * (2 + syscalls.length));
  writeSym(dynsym, 1, dynstr.add(entryName), (STB_GLOBAL << 4) | STT_FUNC, 1, entryAddr, entry.size);
  syscalls.forEach((name, i) =>
    writeSym(dynsym, 2 + i, dynstr.add(name), (STB_GLOBAL << 4) | STT_NOTYPE, SHN_UNDEF, 0, 0),
  );
  const relDyn = Buffer.alloc(REL_SIZE * syscallCalls.length);
  syscallCalls
    .sort((a, b) => a.offset - b.offset)
    .forEach((c, i) => {
      relDyn.writeBigUInt64LE(BigInt(c.offset), i * REL_SIZE);
      relDyn.writeBigUInt64LE((BigInt(2 + syscalls.indexOf(c.name)) << 32n) | BigInt(R_BPF_64_32), i * REL_SIZE + 8);
    });
  const dynstrBytes = dynstr.bytes();

  const dynamicOffset = align(image.length, 8);
  const dynEntries = syscallCalls.length ? 10 : 7;
  const dynsymOffset = dynamicOffset + dynEntries * DYN_SIZE;
  const dynstrOffset = dynsymOffset + dynsym.length;
  const relDynOffset = align(dynstrOffset + dynstrBytes.length, 8);
  const dynEnd = relDynOffset + relDyn.length;
  const dynamic = Buffer.alloc(dynEntries * DYN_SIZE);
  const dynTags: Array<[number, number]> = [
    [DT_SYMTAB, dynsymOffset],
    [DT_SYMENT, SYM_SIZE],
    [DT_STRTAB, dynstrOffset],
    [DT_STRSZ, dynstrBytes.length],
    ...(syscallCalls.length
      ? ([
          [DT_REL, relDynOffset],
          [DT_RELSZ, relDyn.length],
          [DT_RELENT, REL_SIZE],
        ] as Array<[number, number]>)
      : []),
    [DT_TEXTREL, 0],
    [DT_FLAGS, DF_TEXTREL],
    [DT_NULL, 0],
  ];
  dynTags.forEach(([tag, value], i) => {
    dynamic.writeBigUInt64LE(BigInt(tag), i * DYN_SIZE);
    dynamic.writeBigUInt64LE(BigInt(value), i * DYN_SIZE + 8);
  });

  // 6. Section headers: null, .text, .rodata, .dynamic, .dynsym, .dynstr, .rel.dyn, .shstrtab.
  const shstr = new StringTable();
  const headers: Array<{
    name: number;
    type: number;
    flags: bigint;
    offset: number;
    size: number;
    link?: number;
    info?: number;
    align: number;
    entsize?: number;
  }> = [];
  headers.push({
    name: shstr.add('.text'),
    type: SHT_PROGBITS,
    flags: SHF_ALLOC | SHF_EXECINSTR,
    offset: textOffset,
    size: textSize,
    align: 8,
  });
  if (rodataSize)
    headers.push({
      name: shstr.add('.rodata'),
      type: SHT_PROGBITS,
      flags: SHF_ALLOC,
      offset: rodataOffset,
      size: rodataSize,
      align: 8,
    });
  const dynstrIndex = headers.length + 3;
  headers.push({
    name: shstr.add('.dynamic'),
    type: SHT_DYNAMIC,
    flags: SHF_ALLOC | SHF_WRITE,
    offset: dynamicOffset,
    size: dynamic.length,
    link: dynstrIndex,
    align: 8,
    entsize: DYN_SIZE,
  });
  const dynsymIndex = headers.length + 1;
  headers.push({
    name: shstr.add('.dynsym'),
    type: SHT_DYNSYM,
    flags: SHF_ALLOC,
    offset: dynsymOffset,
    size: dynsym.length,
    link: dynstrIndex,
    info: 1,
    align: 8,
    entsize: SYM_SIZE,
  });
  headers.push({
    name: shstr.add('.dynstr'),
    type: SHT_STRTAB,
    flags: SHF_ALLOC,
    offset: dynstrOffset,
    size: dynstrBytes.length,
    align: 1,
  });
  if (relDyn.length)
    headers.push({
      name: shstr.add('.rel.dyn'),
      type: SHT_REL,
      flags: SHF_ALLOC,
      offset: relDynOffset,
      size: relDyn.length,
      link: dynsymIndex,
      align: 8,
      entsize: REL_SIZE,
    });
  const shstrtabName = shstr.add('.shstrtab');
  const shstrBytes = shstr.bytes();
  const shstrOffset = dynEnd;
  headers.push({
    name: shstrtabName,
    type: SHT_STRTAB,
    flags: 0n,
    offset: shstrOffset,
    size: shstrBytes.length,
    align: 1,
  });
  const shoff = align(shstrOffset + shstrBytes.length, 8);
  const shnum = headers.length + 1;

  const out = Buffer.alloc(shoff + shnum * SHDR_SIZE);
  image.copy(out, 0);
  dynamic.copy(out, dynamicOffset);
  dynsym.copy(out, dynsymOffset);
  dynstrBytes.copy(out, dynstrOffset);
  relDyn.copy(out, relDynOffset);
  shstrBytes.copy(out, shstrOffset);
  headers.forEach((h, i) => {
    const p = shoff + (i + 1) * SHDR_SIZE;
    out.writeUInt32LE(h.name, p);
    out.writeUInt32LE(h.type, p + 4);
    out.writeBigUInt64LE(h.flags, p + 8);
    out.writeBigUInt64LE(BigInt(h.flags & SHF_ALLOC ? h.offset : 0), p + 16); // sh_addr == sh_offset
    out.writeBigUInt64LE(BigInt(h.offset), p + 24);
    out.writeBigUInt64LE(BigInt(h.size), p + 32);
    out.writeUInt32LE(h.link ?? 0, p + 40);
    out.writeUInt32LE(h.info ?? 0, p + 44);
    out.writeBigUInt64LE(BigInt(h.align), p + 48);
    out.writeBigUInt64LE(BigInt(h.entsize ?? 0), p + 56);
  });

  // 7. ELF header and program headers.
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0], 0); // magic, 64-bit, little-endian, version 1, OSABI none
  out.writeUInt16LE(ET_DYN, 16);
  out.writeUInt16LE(EM_BPF, 18);
  out.writeUInt32LE(1, 20); // e_version
  out.writeBigUInt64LE(BigInt(entryAddr), 24);
  out.writeBigUInt64LE(BigInt(EHDR_SIZE), 32); // e_phoff
  out.writeBigUInt64LE(BigInt(shoff), 40);
  out.writeUInt32LE(0, 48); // e_flags: SBPFv1
  out.writeUInt16LE(EHDR_SIZE, 52);
  out.writeUInt16LE(PHDR_SIZE, 54);
  out.writeUInt16LE(phnum, 56);
  out.writeUInt16LE(SHDR_SIZE, 58);
  out.writeUInt16LE(shnum, 60);
  out.writeUInt16LE(shnum - 1, 62); // .shstrtab is last
  const segments: Array<[number, number, number, number]> = [
    [PT_LOAD, PF_R | PF_X, textOffset, textSize],
    // With no rodata the segment is empty, placed where rodata would start.
    [PT_LOAD, PF_R, rodataOffset, rodataSize],
    [PT_LOAD, PF_R | PF_W, dynamicOffset, dynEnd - dynamicOffset],
    [PT_DYNAMIC, PF_R | PF_W, dynamicOffset, dynamic.length],
  ];
  segments.forEach(([type, flags, offset, size], i) => {
    const p = EHDR_SIZE + i * PHDR_SIZE;
    out.writeUInt32LE(type, p);
    out.writeUInt32LE(flags, p + 4);
    out.writeBigUInt64LE(BigInt(offset), p + 8); // p_offset
    out.writeBigUInt64LE(BigInt(offset), p + 16); // p_vaddr
    out.writeBigUInt64LE(BigInt(offset), p + 24); // p_paddr
    out.writeBigUInt64LE(BigInt(size), p + 32); // p_filesz
    out.writeBigUInt64LE(BigInt(size), p + 40); // p_memsz
    out.writeBigUInt64LE(8n, p + 48); // p_align
  });

  return {
    so: out,
    text: { offset: textOffset, size: textSize },
    rodata: { offset: rodataOffset, size: rodataSize },
    entryOffset: entryAddr - textOffset,
    syscalls,
  };
}

function writeSym(buf: Buffer, index: number, name: number, info: number, shndx: number, value: number, size: number) {
  const p = index * SYM_SIZE;
  buf.writeUInt32LE(name, p);
  buf[p + 4] = info;
  buf[p + 5] = 0;
  buf.writeUInt16LE(shndx, p + 6);
  buf.writeBigUInt64LE(BigInt(value), p + 8);
  buf.writeBigUInt64LE(BigInt(size), p + 16);
}

/** An ELF string table: offset 0 is the empty string. */
class StringTable {
  private readonly parts: Buffer[] = [Buffer.alloc(1)];
  private length = 1;
  private readonly known = new Map<string, number>();
  add(s: string): number {
    const seen = this.known.get(s);
    if (seen !== undefined) return seen;
    const offset = this.length;
    this.parts.push(Buffer.from(`${s}\0`, 'latin1'));
    this.length += s.length + 1;
    this.known.set(s, offset);
    return offset;
  }
  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}
