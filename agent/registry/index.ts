export * from './client';
export * from './credentials';
export * from './rate-limit';
