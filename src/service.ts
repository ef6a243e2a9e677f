// The service layer lives in src/service/; this module keeps its import path.
export * from './service/index.js';
