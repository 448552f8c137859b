import { defineConfig } from "vitest/config";

// No React plugin: the built-in transform compiles TSX with the automatic JSX runtime (tsconfig "jsx"),
// and fast refresh is not worth a dependency for this small dashboard.
export default defineConfig({
  build: {
    outDir: "dist",
    emptyOutDir: true,
    chunkSizeWarningLimit: 1000,
    rolldownOptions: {
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
