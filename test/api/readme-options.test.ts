/**
 * The README's option tables against the types: each table preceded by a marker such as
 * `<!-- options: ReadThroughOptions -->` lists exactly the members those interfaces declare (own
 * members, by name, in the first column), and every one of them carries TSDoc with a
 * `@defaultValue`; a `<!-- members: FactoryContext -->` table lists exactly the interface's
 * members, each documented. Parsed with the TypeScript compiler API, so an option added to a type
 * without its row (or a row left for an option removed) fails here.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));

interface Member {
  name: string;
  doc: string;
}

/** Every interface declared under src/, by name: its own members with their TSDoc text. */
function interfaces(): Map<string, Member[]> {
  const out = new Map<string, Member[]>();
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((f) => {
      const p = join(dir, f);
      return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
    });
  for (const file of walk(join(root, 'src'))) {
    const text = readFileSync(file, 'utf8');
    const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
    source.forEachChild((node) => {
      if (!ts.isInterfaceDeclaration(node)) return;
      const members = node.members.flatMap((m): Member[] => {
        if (m.name === undefined || !(ts.isIdentifier(m.name) || ts.isStringLiteral(m.name))) return [];
        const docs = ts.getJSDocCommentsAndTags(m).map((d) => d.getText(source));
        return [{ name: m.name.text, doc: docs.join('\n') }];
      });
      out.set(node.name.text, [...(out.get(node.name.text) ?? []), ...members]);
    });
  }
  return out;
}

interface Table {
  kind: 'options' | 'members';
  names: string[];
  /** The backticked names of the first column of each row. */
  rows: string[];
  line: number;
}

/** The marked tables of the README. */
function tables(): Table[] {
  const lines = readFileSync(join(root, 'README.md'), 'utf8').split('\n');
  const out: Table[] = [];
  lines.forEach((line, i) => {
    const m = /^<!-- (options|members): ([\w ]+) -->$/.exec(line.trim());
    if (!m) return;
    const rows: string[] = [];
    let j = i + 1;
    while (j < lines.length && !lines[j]!.startsWith('|')) j++;
    // Header and separator rows, then one row per option.
    for (j += 2; j < lines.length && lines[j]!.startsWith('|'); j++) {
      const first = lines[j]!.split('|')[1]!.trim();
      const name = /^`([^`]+)`$/.exec(first);
      if (!name) throw new Error(`README.md:${j + 1}: the first column should be one backticked name, got ${first}`);
      rows.push(name[1]!);
    }
    out.push({ kind: m[1] as Table['kind'], names: m[2]!.trim().split(/\s+/), rows, line: i + 1 });
  });
  return out;
}

describe('README option tables', () => {
  const declared = interfaces();
  const marked = tables();

  it('mark the tables of every public options interface', () => {
    const covered = new Set(marked.flatMap((t) => t.names));
    for (const name of ['TroveOptions', 'RegionOptions', 'ReadThroughOptions', 'NearCacheOptions', 'CachedOptions', 'GetOrSetOptions', 'FactoryContext']) {
      expect(covered, `a README table marked with ${name}`).toContain(name);
    }
  });

  for (const table of marked) {
    it(`${table.names.join(' + ')} (README.md:${table.line}) lists exactly the declared ${table.kind}, each documented`, () => {
      const members = table.names.flatMap((n) => {
        const found = declared.get(n);
        if (found === undefined) throw new Error(`no interface ${n} under src/`);
        return found;
      });
      const names = [...new Set(members.map((m) => m.name))].sort();
      expect([...table.rows].sort()).toEqual(names);
      for (const m of members) {
        expect(m.doc, `TSDoc of ${m.name}`).not.toBe('');
        if (table.kind === 'options') expect(m.doc, `@defaultValue of ${m.name}`).toContain('@defaultValue');
      }
    });
  }
});
