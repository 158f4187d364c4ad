/**
 * USD amounts as effect-llm reports them: to the picodollar, so float noise never shows (ten $0.10
 * calls spend $1, not 0.9999999999999999; a price is 0.0027743, not 0.0027743000000000004).
 * Decisions (does a hold fit?) compare with a 1e-12 tolerance, so this rounding never changes one.
 */
export const roundUsd = (amount: number): number => Math.round(amount * 1e12) / 1e12

/**
 * A running sum of USD amounts with Neumaier's compensation: however many are added (or taken away), its
 * value stays within an ulp or two of the exact sum. A plain float sum drifted past the budget check's
 * tolerance (9,999 × $0.10 read 999.900000000159), and rounding each step to the picodollar stops being
 * exact past ~$2,250 (99,999 × $0.03 read 2,999.970000006713).
 */
export class RunningTotal {
  private sum: number
  private carry = 0
  constructor(first: number = 0) {
    this.sum = first
  }
  add(amount: number): void {
    const next = this.sum + amount
    this.carry += Math.abs(this.sum) >= Math.abs(amount) ? (this.sum - next) + amount : (amount - next) + this.sum
    this.sum = next
  }
  get value(): number {
    return this.sum + this.carry
  }
}
