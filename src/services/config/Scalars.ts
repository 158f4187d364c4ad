/**
 * The scalar a configuration schema expects at a key path, on its encoded (YAML) side: a number, a
 * boolean, or neither. A value that is one `${VAR}` and nothing else is read as YAML would read the
 * variable's text written there (`max_retries: ${RETRIES}` with `RETRIES=3` is the number 3), so a
 * numeric or boolean setting can come from the environment.
 */
import type * as AST from "effect/SchemaAST"
import type { KeyPath } from "./Issues.js"

export type ScalarKind = "number" | "boolean"

/** The kind of scalar `ast` expects at `path` (under its encoded keys), if it is a number or a boolean. */
export const scalarAt = (ast: AST.AST, path: KeyPath): ScalarKind | undefined => {
  switch (ast._tag) {
    case "Transformation":
      return scalarAt(ast.from, path)
    case "Refinement":
      return scalarAt(ast.from, path)
    case "Suspend":
      return scalarAt(ast.f(), path)
    case "Union":
      for (const member of ast.types) {
        const kind = scalarAt(member, path)
        if (kind !== undefined) return kind
      }
      return undefined
    case "NumberKeyword":
      return path.length === 0 ? "number" : undefined
    case "BooleanKeyword":
      return path.length === 0 ? "boolean" : undefined
    case "TypeLiteral": {
      const [head, ...rest] = path
      if (typeof head !== "string") return undefined
      const signature = ast.propertySignatures.find((candidate) => candidate.name === head)
      if (signature !== undefined) return scalarAt(signature.type, rest)
      const index = ast.indexSignatures[0]
      return index === undefined ? undefined : scalarAt(index.type, rest)
    }
    case "TupleType": {
      const [head, ...rest] = path
      if (typeof head !== "number") return undefined
      const element = ast.elements[head]?.type ?? ast.rest[0]?.type
      return element === undefined ? undefined : scalarAt(element, rest)
    }
    default:
      return undefined
  }
}

const yamlNumber = /^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/

/** `text` as the scalar of `kind` YAML reads it as (`12.5`, `true`); undefined when it is not one. */
export const typedScalar = (text: string, kind: ScalarKind): number | boolean | undefined => {
  const trimmed = text.trim()
  if (kind === "number") return yamlNumber.test(trimmed) ? Number(trimmed) : undefined
  return /^(?:true|True|TRUE)$/.test(trimmed) ? true : /^(?:false|False|FALSE)$/.test(trimmed) ? false : undefined
}
