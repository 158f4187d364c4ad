// Lint and format in one pass, the way the Effect repositories do: ESLint with @effect/eslint-plugin's
// dprint rule as the formatter (`npm run lint:fix` rewrites the files). Syntax-only rules: unused
// names and types are left to tsc (noUnusedLocals/noUnusedParameters), which keeps a run fast.
import * as effectEslint from "@effect/eslint-plugin"
import js from "@eslint/js"
import { defineConfig } from "eslint/config"
import tseslint from "typescript-eslint"

export default defineConfig(
  {
    ignores: ["**/dist/**", "**/node_modules/**", "**/.test-build/**", "**/coverage/**", "test/support/fixtures/**"]
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  effectEslint.configs.dprint,
  {
    files: ["**/*.ts", "**/*.mts", "**/*.cts", "**/*.js", "**/*.mjs", "**/*.cjs"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module"
    },
    linterOptions: {
      reportUnusedDisableDirectives: "error"
    },
    rules: {
      // The Effect repo's dprint options (effect-ts/effect eslint.config.mjs).
      "@effect/dprint": ["error", {
        config: {
          indentWidth: 2,
          lineWidth: 120,
          semiColons: "asi",
          quoteStyle: "alwaysDouble",
          trailingCommas: "never",
          operatorPosition: "maintain",
          "arrowFunction.useParentheses": "force"
        }
      }],

      // Effect house style, all auto-fixable.
      "object-shorthand": "error",
      "@typescript-eslint/array-type": ["error", { default: "generic", readonly: "generic" }],
      // `typeof import("...")` stays allowed: bench/ types modules it loads from src/ or dist/ at run time.
      "@typescript-eslint/consistent-type-imports": ["error", { disallowTypeAnnotations: false }],

      // Correctness rules cheap enough to run without type information.
      "eqeqeq": ["error", "smart"],
      "no-var": "error",
      "prefer-const": "error",

      // tsc reports these (noUnusedLocals, noUnusedParameters, noFallthroughCasesInSwitch).
      "no-unused-vars": "off",
      "@typescript-eslint/no-unused-vars": "off",
      "no-fallthrough": "off",

      // Effect idioms the recommended sets reject.
      "require-yield": "off", // Effect.gen bodies without a yield
      "@typescript-eslint/no-namespace": "off", // namespace merging with a type of the same name
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/no-empty-object-type": "off",
      "@typescript-eslint/no-unsafe-function-type": "off",
      "@typescript-eslint/no-wrapper-object-types": "off",
      "@typescript-eslint/ban-ts-comment": "off",
      "@typescript-eslint/no-non-null-assertion": "off",
      "@typescript-eslint/no-array-constructor": "off",
      "prefer-rest-params": "off",
      "prefer-spread": "off",
      "no-irregular-whitespace": "off"
    }
  },
  {
    // The CLI strips ANSI colour codes, which are control characters by design.
    files: ["src/cli/**/*.ts"],
    rules: { "no-control-regex": "off" }
  },
  {
    // Library code imports Effect modules deeply (effect/Effect, not the "effect" barrel): faster start-up.
    files: ["src/**/*.ts"],
    rules: {
      "@effect/no-import-from-barrel-package": ["error", {
        packageNames: ["effect", "@effect/platform", "@effect/sql"]
      }]
    }
  }
)
