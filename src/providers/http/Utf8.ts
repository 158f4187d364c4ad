/**
 * A body's UTF-8 text read by read. Node's `TextDecoder` leaves its fast (simdutf) path for good once
 * it is called with `{ stream: true }` and decodes through ICU instead: ~5× the time per byte (2.3 MB
 * of SSE in 64 KB reads: 1.5 ms against 0.3 ms, Node 20). So each read's complete characters are
 * decoded on the fast path, and a character cut by the read's end is carried to the next read.
 */

/** Decoding is stateless here (no `stream` option): one decoder serves every body. */
const decoder = new TextDecoder("utf-8", { ignoreBOM: true })

/** Where the bytes' last complete character ends (before a multi-byte sequence the read cut short). */
const completeEnd = (bytes: Uint8Array): number => {
  const length = bytes.length
  let lead = length - 1
  // Back over at most three continuation bytes (10xxxxxx) to the sequence's lead byte.
  while (lead >= 0 && length - lead <= 3 && (bytes[lead]! & 0xc0) === 0x80) lead--
  if (lead < 0) return length
  const byte = bytes[lead]!
  const needed = byte >= 0xf8 ? 1 : byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1
  return needed > length - lead ? lead : length
}

/**
 * Decodes a body's reads in order: `read` gives the text of every character complete so far, `end`
 * what an incomplete last character leaves (U+FFFD, as a streaming decoder's flush does). Invalid
 * bytes become U+FFFD. A byte order mark is kept: the SSE parser strips the stream's leading one.
 */
export const makeReader = () => {
  let carried: Uint8Array | undefined
  return {
    read: (bytes: Uint8Array): string => {
      let input = bytes
      if (carried !== undefined) {
        input = new Uint8Array(carried.length + bytes.length)
        input.set(carried)
        input.set(bytes, carried.length)
        carried = undefined
      }
      const end = completeEnd(input)
      if (end === input.length) return decoder.decode(input)
      carried = input.slice(end)
      return decoder.decode(input.subarray(0, end))
    },
    end: (): string => {
      const rest = carried
      carried = undefined
      return rest === undefined ? "" : decoder.decode(rest)
    }
  }
}
