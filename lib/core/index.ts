export * from './duration';
export * from './image-ref';
export * from './update-policy';
export * from './slo';
