export const RESET_CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
export const RESET_CODE_LENGTH = 20;
export const RESET_CODE_BITS = RESET_CODE_LENGTH * 5;

const WELL_FORMED = new RegExp(`^[${RESET_CODE_ALPHABET}]{${RESET_CODE_LENGTH}}$`);

export function generateResetCode(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(RESET_CODE_LENGTH));
  let code = "";
  for (const byte of bytes) {
    // 256 is a multiple of 32, so keeping the low five bits is exactly uniform.
    code += RESET_CODE_ALPHABET.charAt(byte & 31);
  }
  return code;
}

export function normaliseResetCode(input: string): string {
  // U and other strangers stay, so isWellFormedResetCode rejects them instead of guessing.
  return input.toUpperCase().replace(/[\s-]/g, "").replace(/[IL]/g, "1").replace(/O/g, "0");
}

export function isWellFormedResetCode(normalised: string): boolean {
  return WELL_FORMED.test(normalised);
}
