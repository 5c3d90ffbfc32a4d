/** The bad-body cases of the README's API section: each must be answered 400 invalid request body or 413. */
export interface BadBody {
  name: string;
  body: string | Uint8Array;
  contentType?: string;
  status: 400 | 413;
}

export const badBodies: BadBody[] = [
  { name: "unparseable JSON", body: '{"email": ', contentType: "application/json", status: 400 },
  { name: "a JSON array", body: "[]", contentType: "application/json", status: 400 },
  {
    name: "a JSON string",
    body: '"user@example.com"',
    contentType: "application/json",
    status: 400,
  },
  { name: "JSON null", body: "null", contentType: "application/json", status: 400 },
  { name: "a JSON number", body: "42", contentType: "application/json", status: 400 },
  { name: "an empty body", body: "", contentType: "application/json", status: 400 },
  { name: "no content type", body: '{"email":"a@b.co"}', status: 400 },
  { name: "text/plain", body: '{"email":"a@b.co"}', contentType: "text/plain", status: 400 },
  {
    name: "a form",
    body: "email=a%40b.co",
    contentType: "application/x-www-form-urlencoded",
    status: 400,
  },
  {
    name: "invalid UTF-8",
    body: new Uint8Array([0x7b, 0x22, 0x65, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
    contentType: "application/json",
    status: 400,
  },
  {
    name: "a body over 16 KiB",
    body: JSON.stringify({ email: "a@b.co", pad: "x".repeat(17 * 1024) }),
    contentType: "application/json",
    status: 413,
  },
];

export async function sendBadBody(baseUrl: string, path: string, bad: BadBody): Promise<Response> {
  const headers: Record<string, string> = {};
  if (bad.contentType) headers["content-type"] = bad.contentType;
  return fetch(`${baseUrl}${path}`, { method: "POST", headers, body: bad.body });
}
