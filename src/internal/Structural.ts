/**
 * Value equality for the Schema records whose fields hold plain structs (`timing`, `tags`, `error`):
 * `Data.Class` compares its fields with `Equal.equals`, which compares a plain object by reference, so
 * two records with the same values — a record and its decoded JSON copy — were never equal.
 */
import * as Equal from "effect/Equal"
import * as Hash from "effect/Hash"
import * as Utils from "effect/Utils"

const isPlain = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype

/** A hash that follows nested plain objects and arrays by value (`Hash.hash` gives them a random one). */
const deepHash = (value: unknown): number => {
  if (Array.isArray(value)) {
    return value.reduce((h: number, item) => Hash.combine(deepHash(item))(h), Hash.number(value.length))
  }
  if (isPlain(value) || (typeof value === "object" && value !== null && !Hash.isHash(value))) {
    let h = Hash.string("{}")
    for (const key of Object.keys(value).sort()) {
      h = Hash.combine(Hash.combine(deepHash((value as Record<string, unknown>)[key]))(Hash.string(key)))(h)
    }
    return h
  }
  return Hash.hash(value)
}

/** Gives `Class`'s instances value equality and a matching hash, nested plain structs included. */
export const structural = <C extends abstract new(...args: never) => object>(Class: C): C => {
  const proto = Class.prototype as Record<symbol, unknown>
  const base = proto[Equal.symbol] as (this: object, that: Equal.Equal) => boolean
  proto[Equal.symbol] = function(this: object, that: Equal.Equal) {
    return Utils.structuralRegion(() => base.call(this, that))
  }
  proto[Hash.symbol] = function(this: object) {
    return Hash.cached(this, deepHash({ ...this }))
  }
  return Class
}
