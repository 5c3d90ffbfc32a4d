import { describe, expect, test } from "bun:test";
import { deriveKeyring } from "../../src/privacy";
import { clientAddress } from "../../src/rate-limits/client";
import { clientLimitKey } from "../../src/rate-limits/store";

describe("clientAddress: an IPv6 client is its /64", () => {
  test("every address of one /64 is one client, however it is written", () => {
    const forms = [
      "2001:db8::1",
      "2001:db8::40",
      "2001:db8:0:0:ffff:ffff:ffff:ffff",
      "2001:0DB8:0000:0000:0000:0000:0000:0001",
      "2001:db8::1:2:3:4",
      "2001:db8:0:0:1::",
      "2001:db8::",
      "2001:db8::1.2.3.4",
      "2001:db8::1%eth0",
      "2001:db8::5%25en0",
      "[2001:db8::7]",
      "[2001:db8::7]:8443",
      " 2001:db8::9 ",
    ];
    for (const form of forms)
      expect({ form, client: clientAddress(form) }).toEqual({
        form,
        client: "2001:db8:0:0::/64",
      });
  });

  test("another /64 is another client", () => {
    expect(clientAddress("2001:db8:0:1::1")).toBe("2001:db8:0:1::/64");
    expect(clientAddress("2001:db8:1::1")).toBe("2001:db8:1:0::/64");
    expect(clientAddress("2001:db8:abcd:12::1")).toBe("2001:db8:abcd:12::/64");
    expect(clientAddress("::1")).toBe("0:0:0:0::/64");
    expect(clientAddress("fe80::1%eth0")).toBe("fe80:0:0:0::/64");
  });

  test("an IPv4-mapped IPv6 address is the IPv4 client, in any spelling", () => {
    expect(clientAddress("::ffff:192.0.2.7")).toBe("192.0.2.7");
    expect(clientAddress("::FFFF:192.0.2.7")).toBe("192.0.2.7");
    expect(clientAddress("0:0:0:0:0:ffff:192.0.2.7")).toBe("192.0.2.7");
    expect(clientAddress("::ffff:c000:207")).toBe("192.0.2.7");
    expect(clientAddress("[::ffff:192.0.2.7]:443")).toBe("192.0.2.7");
  });

  test("a plain IPv4 address is itself; a port is dropped", () => {
    expect(clientAddress("192.0.2.7")).toBe("192.0.2.7");
    expect(clientAddress("255.255.255.255")).toBe("255.255.255.255");
    expect(clientAddress("192.0.2.7:51234")).toBe("192.0.2.7");
  });

  test("anything that is no address stays itself", () => {
    const garbage = [
      "unknown",
      "",
      "not an address",
      "2001:db8::1::2",
      "2001:db8:1:2:3:4:5:6:7",
      "2001:db8:1:2:3:4:5",
      "2001:db8::g",
      "12345::1",
      "1.2.3.4::",
      "::1.2.3.4:5",
      "256.1.1.1",
      "01.2.3.4",
      "1.2.3",
      ":::",
      "[2001:db8::1",
    ];
    for (const ip of garbage) expect(clientAddress(ip)).toBe(ip);
  });
});

describe("clientLimitKey counts by client", () => {
  const keyring = deriveKeyring(Buffer.alloc(32, 7));
  test("one key per /64 and for an IPv4 address however written; others apart", () => {
    const key = (ip: string) => clientLimitKey(keyring, "trigger-ip", ip);
    expect(key("2001:db8::1")).toBe(key("2001:db8::ffff"));
    expect(key("::ffff:192.0.2.7")).toBe(key("192.0.2.7"));
    expect(key("2001:db8::1")).not.toBe(key("2001:db8:0:1::1"));
    expect(key("192.0.2.7")).not.toBe(key("192.0.2.8"));
    expect(key("192.0.2.7")).not.toBe(clientLimitKey(keyring, "auth-ip", "192.0.2.7"));
  });
});
