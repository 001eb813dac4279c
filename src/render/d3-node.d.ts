// Minimal types for d3-node 4 (the package ships none): only what the renderers use.
declare module 'd3-node' {
  export interface D3NodeSelection {
    append(name: string): D3NodeSelection;
    attr(name: string, value: string | number): D3NodeSelection;
    text(value: string): D3NodeSelection;
    node(): Element;
  }
  export class D3Node {
    constructor(options?: { selector?: string; container?: string; styles?: string });
    createSVG(width?: number | null, height?: number | null, attrs?: Record<string, string | number>): D3NodeSelection;
    svgString(): string;
    readonly document: Document;
    readonly window: Window & typeof globalThis;
  }
}
