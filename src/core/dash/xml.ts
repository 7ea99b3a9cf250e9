/** A minimal XML element model for the MPD: elements are built as data and serialized in one place. */
export interface XmlElement {
  name: string;
  attrs?: Record<string, string | number | boolean | undefined>;
  children?: XmlElement[];
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
};

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

function attrText(attrs: XmlElement['attrs']): string {
  let out = '';
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined) continue;
    out += ` ${k}="${escapeXml(String(v))}"`;
  }
  return out;
}

/** Serializes an element tree with two-space indentation and an XML declaration. */
export function serializeXml(root: XmlElement): string {
  const lines: string[] = ['<?xml version="1.0" encoding="UTF-8"?>'];
  const walk = (e: XmlElement, depth: number): void => {
    const pad = '  '.repeat(depth);
    const kids = e.children ?? [];
    if (kids.length === 0) {
      lines.push(`${pad}<${e.name}${attrText(e.attrs)}/>`);
      return;
    }
    lines.push(`${pad}<${e.name}${attrText(e.attrs)}>`);
    for (const k of kids) walk(k, depth + 1);
    lines.push(`${pad}</${e.name}>`);
  };
  walk(root, 0);
  return `${lines.join('\n')}\n`;
}
