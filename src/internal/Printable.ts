/**
 * Text from outside (a server's error body, a configured name) made safe to print: a control
 * character — ESC, BEL, backspace, DEL, C1's CSI — would let it clear a terminal, retitle its window
 * or write its clipboard; each is shown escaped, as JSON writes C0 (`\b`, `\u001b`) and as `\u009b`.
 */
const control = /\p{Cc}/gu

const escaped = (char: string): string => {
  const code = char.charCodeAt(0)
  // JSON.stringify escapes only C0; DEL and C1 it leaves as they are
  return code < 0x20 ? JSON.stringify(char).slice(1, -1) : `\\u${code.toString(16).padStart(4, "0")}`
}

/** `text` with every control character escaped (line breaks too: call it on text meant for one line). */
export const escapeControls = (text: string): string => text.replace(control, escaped)

const controlButLayout = /(?![\n\t])\p{Cc}/gu

/** `text` with every control character but line feed and tab escaped (a log record of several lines). */
export const escapeControlsKeepingLines = (text: string): string => text.replace(controlButLayout, escaped)
