/**
 * How much the upper-bound estimate (UTF-8 bytes + per-message allowance, API.md §14) holds over the
 * old characters / 3 guess, for typical English and CJK prompts at gemini-2.5-flash prices with the
 * default output cap: `npx tsx bench/estimate.ts`. A larger hold refuses calls that much earlier near
 * a limit (the number of calls a budget admits shrinks by the same ratio).
 */
import type { ModelConfig } from "../src/domain/Config.js"
import { type CallRequest, text } from "../src/domain/Prompt.js"
import { estimateCost, inputTokenBound } from "../src/services/Pricing.js"

const model: ModelConfig = {
  alias: "flash",
  provider: "google",
  protocol: "gemini",
  modelId: "gemini-2.5-flash",
  pricing: { inputPer1m: 0.3, outputPer1m: 2.5 },
  fallbacks: []
}
const cap = 1024
const english = "The quick brown fox jumps over the lazy dog. "
const cjk = "请用三句话总结这份季度报告的要点并列出主要风险"
const cases: ReadonlyArray<readonly [string, string]> = [
  ["English, 200 characters", english.repeat(5).slice(0, 200)],
  ["English, 2,000 characters", english.repeat(45).slice(0, 2000)],
  ["CJK, 100 characters", cjk.repeat(5).slice(0, 100)],
  ["CJK, 1,000 characters", cjk.repeat(50).slice(0, 1000)]
]

console.log("| prompt | input tokens, old | input tokens, bound | hold, old | hold, now | calls admitted |")
console.log("| --- | ---: | ---: | ---: | ---: | ---: |")
for (const [name, prompt] of cases) {
  const request: CallRequest = {
    system: undefined,
    messages: [{ role: "user", parts: [text(prompt)] }],
    maxOutputTokens: cap,
    temperature: undefined,
    topP: undefined,
    stop: undefined
  }
  const oldInput = Math.ceil(prompt.length / 3)
  const bound = inputTokenBound(request, model.protocol)
  const before = estimateCost(model, oldInput, cap)
  const now = estimateCost(model, bound, cap)
  console.log(
    `| ${name} | ${oldInput} | ${bound} | $${before.toFixed(6)} | $${now.toFixed(6)} | ${
      (100 * before / now).toFixed(1)
    }% |`
  )
}
