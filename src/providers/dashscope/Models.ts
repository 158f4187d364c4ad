/**
 * Which DashScope native endpoint serves a request, and what a model takes there (WIRE-tools-multimodal
 * §2.1, §2.7), told from the model id — the only thing the protocol knows of a model. Vision, audio
 * and omni families are served by `multimodal-generation` only; Qwen 3.5 and later plus/flash models by
 * `text-generation` for text and by `multimodal-generation` once a request carries an image or video;
 * every other model is a text model on `text-generation`, where a file part is refused.
 */
import type { FilePart } from "../../domain/Prompt.js"

/** The two native generation endpoints. */
export type Endpoint = "text-generation" | "multimodal-generation"

/** What a family of models takes. */
export interface Family {
  /** How the family is named in refusals. */
  readonly name: string
  /** Served by `multimodal-generation` only (else: there only for requests that carry a file). */
  readonly multimodalOnly: boolean
  readonly images: boolean
  readonly audio: boolean
  readonly video: boolean
  /** Function calling (tools, tool calls and results in the history). */
  readonly tools: boolean
}

const family = (
  name: string,
  multimodalOnly: boolean,
  media: { readonly images?: boolean; readonly audio?: boolean; readonly video?: boolean },
  tools: boolean
): Family => ({
  name,
  multimodalOnly,
  images: media.images ?? false,
  audio: media.audio ?? false,
  video: media.video ?? false,
  tools
})

/** A text model: text only, tools on `text-generation`. */
export const textFamily: Family = family("a text model", false, {}, true)

// First match wins. Tools: Qwen3-VL, Qwen3-Omni and the Qwen 3.5+ models call functions (Alibaba's
// function-calling page, 2026; recorded for qwen3.6-plus on multimodal-generation); the older VL,
// QVQ, Audio and Omni models do not ("Qwen multimodal models are not supported", same page, 2025).
const families: ReadonlyArray<readonly [RegExp, Family]> = [
  [/^qwen3(\.\d+)?-omni/, family("Qwen3-Omni", true, { images: true, audio: true, video: true }, true)],
  [/^qwen[\d.]*-omni/, family("Qwen-Omni", true, { images: true, audio: true, video: true }, false)],
  [/^qwen3(\.\d+)?-vl/, family("Qwen3-VL", true, { images: true, video: true }, true)],
  [/^(qwen[\d.]*-vl|qvq)/, family("Qwen-VL/QVQ", true, { images: true, video: true }, false)],
  [/^qwen[\d.]*-audio/, family("Qwen-Audio", true, { audio: true }, false)],
  [/^qwen3\.([5-9]|\d{2,})-(plus|flash)/, family("Qwen 3.5+", false, { images: true, video: true }, true)]
]

/** The family of a model id (case-insensitive; a text model when no pattern matches). */
export const familyOf = (modelId: string): Family => {
  const id = modelId.toLowerCase()
  return families.find(([pattern]) => pattern.test(id))?.[1] ?? textFamily
}

const hasFile = (
  request: { readonly messages: ReadonlyArray<{ readonly parts: ReadonlyArray<{ readonly type: string }> }> }
) => request.messages.some((message) => message.parts.some((part) => part.type === "file"))

/** The endpoint a request for `modelId` goes to. */
export const endpointOf = (
  modelId: string,
  request: { readonly messages: ReadonlyArray<{ readonly parts: ReadonlyArray<{ readonly type: string }> }> }
): Endpoint => {
  const found = familyOf(modelId)
  return found.multimodalOnly || (found !== textFamily && hasFile(request))
    ? "multimodal-generation"
    : "text-generation"
}

/** The kind of a media type DashScope content items have: `image`, `audio`, `video`, or none. */
export const kindOf = (mediaType: string): "image" | "audio" | "video" | undefined => {
  const type = mediaType.toLowerCase()
  if (/^image\/(\*|png|jpeg|jpg|webp|bmp|tiff|heic)$/.test(type)) return "image"
  if (type.startsWith("audio/")) return "audio"
  if (type.startsWith("video/")) return "video"
  return undefined
}

const isFetchableUrl = (url: string): boolean => /^(https?|oss):\/\//i.test(url)

/** An `image/*` URL whose path names a format the service does not take (GIF, SVG, AVIF). */
const namesRefusedImage = (url: string): boolean => {
  try {
    return /\.(gif|svg|avif)$/i.test(new URL(url).pathname)
  } catch {
    return false
  }
}

/**
 * Whether `found` takes a file part: an image as bytes (sent as a base64 `data:` URL), a `data:`
 * URL or an http(s)/`oss://` URL; audio and video by http(s)/`oss://` URL only (inline audio and
 * video are unverified on the native API, so refused rather than guessed).
 */
export const canCarryFile = (found: Family, part: FilePart): boolean => {
  const kind = kindOf(part.mediaType)
  if (kind === undefined || !found[kind === "image" ? "images" : kind]) return false
  if (part.data._tag === "base64") return kind === "image" && part.mediaType !== "image/*"
  if (part.mediaType === "image/*" && namesRefusedImage(part.data.url)) return false
  return isFetchableUrl(part.data.url) || (kind === "image" && /^data:image\//i.test(part.data.url))
}

/** What `found` takes, for a refusal's explanation. */
export const describeFamily = (modelId: string, found: Family): string => {
  if (found === textFamily) {
    return `${modelId} is a text model; images and video need a Qwen-VL, Qwen3-VL, Qwen 3.5+ plus/flash or Qwen-Omni model, audio a Qwen-Audio or Qwen-Omni model`
  }
  const media = [
    found.images ? "images" : undefined,
    found.audio ? "audio" : undefined,
    found.video ? "video" : undefined
  ]
    .filter((item) => item !== undefined).join(", ")
  const byUrl = [found.audio ? "audio" : undefined, found.video ? "video" : undefined]
    .filter((item) => item !== undefined).join(" and ")
  return `${modelId} (${found.name}) takes ${media}${found.tools ? " and tools" : ", no tools"}${
    found.images ? "; images as PNG, JPEG, WebP, BMP, TIFF or HEIC (not GIF)" : ""
  }${byUrl.length > 0 ? `; ${byUrl} only by URL` : ""}`
}

/**
 * Models that always think (QwQ, QVQ, the `-thinking` releases) refuse JSON mode ("思考模式的模型暂不支持
 * 结构化输出功能", WIRE-tools-multimodal §2.6): they get the JSON instruction without `response_format`.
 */
export const alwaysThinks = (modelId: string): boolean => /^(qwq|qvq)|-thinking/.test(modelId.toLowerCase())

/**
 * Models that think unless told not to: the always-thinking ones and the open-weight Qwen3 hybrids
 * (`qwen3-32b`, `qwen3-235b-a22b`; not their `-instruct` releases), which DashScope serves thinking by
 * default — a unary call to them is refused (WIRE.md §2.2), so their unary calls go as streams too.
 */
export const thinks = (modelId: string): boolean =>
  alwaysThinks(modelId) || /^qwen3-\d+(?:\.\d+)?b(?:-a\d+(?:\.\d+)?b)?$/.test(modelId.toLowerCase())
