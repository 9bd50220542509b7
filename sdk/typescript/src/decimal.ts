/**
 * Exact decimals for money: a bigint coefficient and a scale (value = c × 10^-s).
 * No floating point touches a price or a cost; costs are summed in atto-dollars (1e-18 USD),
 * the wire's and ClickHouse's Decimal(38, 18) resolution.
 */

export interface Dec {
  readonly c: bigint;
  readonly s: number;
}

const DEC_RE = /^(\d+)(?:\.(\d+))?$/;
export const PLACES = 18;
const POW10: bigint[] = [];
export function pow10(n: number): bigint {
  let p = POW10[n];
  if (p === undefined) {
    p = 10n ** BigInt(n);
    POW10[n] = p;
  }
  return p;
}

/** A non-negative decimal string ("2.50", "3") → Dec; null when it is not one. */
export function parseDec(text: string): Dec | null {
  const m = DEC_RE.exec(text.trim());
  if (m === null) return null;
  const frac = m[2] ?? "";
  return { c: BigInt(m[1] + frac), s: frac.length };
}

export function mul(a: Dec, b: Dec): Dec {
  return { c: a.c * b.c, s: a.s + b.s };
}

export const ONE: Dec = { c: 1n, s: 0 };

export function isZero(a: Dec): boolean {
  return a.c === 0n;
}

/** Exact price in atto-USD when the value has at most 18 places, else null. */
export function exactAtto(a: Dec): bigint | null {
  if (a.s <= PLACES) return a.c * pow10(PLACES - a.s);
  const drop = pow10(a.s - PLACES);
  return a.c % drop === 0n ? a.c / drop : null;
}

/** round-half-even(numerator / denominator) for non-negative operands. */
export function divRoundHalfEven(num: bigint, den: bigint): bigint {
  const q = num / den;
  const r = num % den;
  const twice = r * 2n;
  if (twice > den || (twice === den && q % 2n === 1n)) return q + 1n;
  return q;
}

/** qty × rate / divisor in atto-USD, rounded half-even at 18 places only when needed. */
export function attoOf(qty: Dec, rate: Dec, divisor: number): bigint {
  const p = mul(qty, rate);
  // p.c / (10^p.s × divisor) USD = p.c × 10^18 / (10^p.s × divisor) atto
  return divRoundHalfEven(p.c * pow10(PLACES), pow10(p.s) * BigInt(divisor));
}

/** A non-negative atto-USD amount as a plain decimal string: "0.0125", "3", "0". */
export function formatAtto(atto: bigint): string {
  return formatScaled(atto, PLACES);
}

export function formatDec(a: Dec): string {
  return formatScaled(a.c, a.s);
}

function formatScaled(c: bigint, s: number): string {
  if (c <= 0n) return "0";
  if (s === 0) return c.toString();
  const text = c.toString().padStart(s + 1, "0");
  const whole = text.slice(0, text.length - s);
  const frac = text.slice(text.length - s).replace(/0+$/, "");
  return frac ? `${whole}.${frac}` : whole;
}

/** Limit a decimal to 18 places (round half even), for the wire. */
export function toWireDecimal(a: Dec): string {
  if (a.s <= PLACES) return formatDec(a);
  return formatAtto(divRoundHalfEven(a.c, pow10(a.s - PLACES)));
}

/** a ÷ b rounded half-even to 18 places (xAI ticks → USD). */
export function divide(a: Dec, b: Dec): Dec {
  // (a.c/10^a.s) / (b.c/10^b.s) = a.c × 10^b.s / (b.c × 10^a.s)
  return { c: divRoundHalfEven(a.c * pow10(b.s + PLACES), b.c * pow10(a.s)), s: PLACES };
}
