/**
 * The image type inline bytes say by their signature (PNG, JPEG, GIF, WebP), whatever a part declares:
 * `@effect/ai` may say only `image/*`, and Anthropic refuses an image whose bytes are not the type sent
 * ("Image does not match the provided media type").
 */

/** The type of the base64 `data`'s image from its first bytes; `undefined` when no signature matches. */
export const imageTypeOf = (base64: string): string | undefined => {
  const head = Buffer.from(base64.slice(0, 24), "base64")
  const ascii = (from: number, to: number) => head.toString("latin1", from, to)
  if (head[0] === 0x89 && ascii(1, 4) === "PNG") return "image/png"
  if (head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return "image/jpeg"
  if (ascii(0, 4) === "GIF8") return "image/gif"
  if (ascii(0, 4) === "RIFF" && ascii(8, 12) === "WEBP") return "image/webp"
  return undefined
}
