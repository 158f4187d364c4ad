/**
 * Cutting text to a length without splitting a character: a cut between the two halves of a
 * surrogate pair (an emoji) would leave a lone half, which SQLite and PostgreSQL store as U+FFFD and
 * strict JSON parsers refuse.
 */

/** The first `length` UTF-16 units of `text`, one fewer when the last would be a pair's first half. */
export const headOf = (text: string, length: number): string => {
  if (text.length <= length) return text
  const last = text.charCodeAt(length - 1)
  return text.slice(0, last >= 0xd800 && last <= 0xdbff ? length - 1 : length)
}
