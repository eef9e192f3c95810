// Builds the /fill page's one bundle into ../static/fill with fixed file names, so that the
// committed build can be compared with a fresh one (CI: npm ci && npm run build && git diff).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));

// assets.json: every file of the build, for the service worker to cache when it installs
const assetList = {
  name: 'fieldapp-asset-list',
  generateBundle(_options, bundle) {
    const files = Object.keys(bundle).sort();
    this.emitFile({ type: 'asset', fileName: 'assets.json', source: `${JSON.stringify(files, null, 1)}\n` });
  },
};

export default defineConfig({
  base: '/static/fill/',
  plugins: [assetList],
  publicDir: here('public'),
  define: {
    __VUE_OPTIONS_API__: 'true',
    __VUE_PROD_DEVTOOLS__: 'false',
    __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: 'false',
  },
  build: {
    outDir: here('../static/fill'),
    emptyOutDir: true,
    target: 'es2022',
    modulePreload: false,
    sourcemap: false,
    reportCompressedSize: false,
    chunkSizeWarningLimit: 5000,
    rollupOptions: {
      input: { fill: here('src/main.js') },
      output: {
        entryFileNames: '[name].js',
        chunkFileNames: '[name].js',
        assetFileNames: '[name][extname]',
      },
    },
  },
});
