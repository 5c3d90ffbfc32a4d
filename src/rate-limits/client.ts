/**
 * The client an address stands for, as every per-client limit counts it: an IPv4 address as
 * itself (also when written IPv4-mapped, `::ffff:1.2.3.4`), an IPv6 address by its /64 — the
 * smallest network a provider gives one subscriber, who may use any of its 2^64 addresses. A
 * bracketed or ported form (`[2001:db8::1]:443`, `1.2.3.4:80`) is the address; a zone id
 * (`fe80::1%eth0`) is dropped. Anything else (`unknown`, garbage) stays itself.
 */
export function clientAddress(ip: string): string {
  const address = withoutPort(ip.trim());
  if (IPV4.test(address)) return address;
  const groups = ipv6Groups(address);
  if (groups === undefined) return ip;
  const [a = 0, b = 0, c = 0, d = 0, e = 0, f = 0, g = 0, h = 0] = groups;
  if (a === 0 && b === 0 && c === 0 && d === 0 && e === 0 && f === 0xffff) {
    return `${g >> 8}.${g & 0xff}.${h >> 8}.${h & 0xff}`;
  }
  return `${[a, b, c, d].map((n) => n.toString(16)).join(":")}::/64`;
}

const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const HEX_GROUP = /^[0-9a-f]{1,4}$/i;

function withoutPort(address: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(address);
  if (bracketed?.[1] !== undefined) return bracketed[1];
  const ported = /^([\d.]+):\d{1,5}$/.exec(address);
  return ported?.[1] ?? address;
}

/** The eight 16-bit groups of an IPv6 address (compressed, zoned or IPv4-tailed), if it is one. */
function ipv6Groups(address: string): number[] | undefined {
  const unzoned = address.replace(/%[^%]+$/, "");
  const halves = unzoned.split("::");
  if (halves.length > 2) return undefined;
  // An IPv4 tail may end the address only: the last piece of its last part.
  const parse = (part: string, last: boolean): number[] | undefined => {
    if (part === "") return [];
    const words: number[] = [];
    const pieces = part.split(":");
    for (const [i, piece] of pieces.entries()) {
      if (last && i === pieces.length - 1 && IPV4.test(piece)) {
        const [p = 0, q = 0, r = 0, s = 0] = piece.split(".").map(Number);
        words.push((p << 8) | q, (r << 8) | s);
      } else if (HEX_GROUP.test(piece)) {
        words.push(Number.parseInt(piece, 16));
      } else {
        return undefined;
      }
    }
    return words;
  };
  const head = parse(halves[0] ?? "", halves.length === 1);
  const tail = halves.length === 2 ? parse(halves[1] ?? "", true) : [];
  if (head === undefined || tail === undefined) return undefined;
  if (halves.length === 1) return head.length === 8 ? head : undefined;
  const missing = 8 - head.length - tail.length;
  return missing >= 1 ? [...head, ...Array<number>(missing).fill(0), ...tail] : undefined;
}
