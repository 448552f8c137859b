import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";
import type { Plugin } from "vite";
import { defineConfig } from "vitest/config";

/** Writes `<asset>.br` and `<asset>.gz` beside every script and style sheet, compressed once at build time at the
 * highest levels; the API sends the one the browser accepts (api/dashboard.py) instead of compressing per request.
 * From the files as written: other plugins finish the code in generateBundle (Vite fills in its preload lists). */
function precompress(): Plugin {
  return {
    name: "warpdrive-precompress",
    apply: "build",
    writeBundle(options, bundle) {
      for (const name of Object.keys(bundle)) {
        if (!/^assets\/.*\.(js|css)$/.test(name)) continue;
        const file = path.join(options.dir ?? "dist", name);
        const source = readFileSync(file);
        writeFileSync(`${file}.br`, brotliCompressSync(source, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }));
        writeFileSync(`${file}.gz`, gzipSync(source, { level: 9 }));
      }
    },
  };
}

// Libraries the main bundle (every page) or only the file tables need: not part of the charts chunk.
const NOT_CHARTS = /[\\/]node_modules[\\/](react|react-dom|react-router|react-router-dom|scheduler|cookie|set-cookie-parser|@tanstack)[\\/]/;

// The dashboard's components and helpers, and the shared definitions it reads from schemas/.
const SHARED = /[\\/]web[\\/](src[\\/](components[\\/]|useApi\.ts|owners\.ts)|\.\.[\\/]schemas[\\/]|schemas[\\/])/;

// No React plugin: the built-in transform compiles TSX with the automatic JSX runtime (tsconfig "jsx"),
// and fast refresh is not worth a dependency for this small dashboard.
export default defineConfig({
  plugins: [precompress()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    chunkSizeWarningLimit: 1000,
    rolldownOptions: {
      output: {
        codeSplitting: {
          // What pulls React in stays out of these groups (React itself is in the main bundle, which every page needs).
          includeDependenciesRecursively: false,
          groups: [
            // The chart library (Recharts and what it brings: d3, redux, immer, …): one chunk, fetched only by the pages
            // that draw charts, with the dashboard's chart components.
            {
              name: "charts",
              test: (id) => (/[\\/]node_modules[\\/]/.test(id) && !NOT_CHARTS.test(id)) || /Chart\.tsx$/.test(id),
              priority: 2,
            },
            // The dashboard's own small modules used by several pages travel together, not as ten tiny files (not the
            // file table: it brings its table library; not what the shell itself imports).
            { name: "shared", test: (id) => SHARED.test(id) && !/FileTable\.tsx$/.test(id), minShareCount: 2, priority: 1 },
          ],
        },
      },
      // react-router marks its modules "use client" (a server-components hint); irrelevant to a plain SPA.
      onwarn(warning, warn) {
        if (warning.code !== "MODULE_LEVEL_DIRECTIVE") warn(warning);
      },
    },
  },
  // `npm run dev` proxies the API so the dashboard can be developed against a running `warpdrive api serve`.
  server: { proxy: { "/api": process.env.WARPDRIVE_API ?? "http://127.0.0.1:8080" } },
  test: { include: ["tests/**/*.test.ts", "tests/**/*.test.tsx"], environment: "node" },
});
