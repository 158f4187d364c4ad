/**
 * USD amounts as effect-llm reports them: to the picodollar, so float noise never shows (ten $0.10
 * calls spend $1, not 0.9999999999999999; a price is 0.0027743, not 0.0027743000000000004).
 * Decisions (does a hold fit?) compare with a 1e-12 tolerance, so this rounding never changes one.
 */
export const roundUsd = (amount: number): number => Math.round(amount * 1e12) / 1e12
