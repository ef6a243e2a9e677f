// latchkey's logo: a key through a latch, and the name. Served by the docs page
// (Swagger UI's top bar and the favicon), so the page loads nothing from
// another host and shows latchkey, not Swagger's or Fastify's mark.
export const LOGO_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="200" height="48" viewBox="0 0 200 48" role="img" aria-label="latchkey">
  <title>latchkey</title>
  <circle cx="18" cy="24" r="11" fill="none" stroke="#f5b82e" stroke-width="5"/>
  <path d="M29 24h22m-7 0v8m-7-8v6" fill="none" stroke="#f5b82e" stroke-width="5" stroke-linecap="round"/>
  <text x="60" y="33" fill="#ffffff" font-family="system-ui, -apple-system, 'Segoe UI', sans-serif" font-size="26" font-weight="600">latchkey</text>
</svg>
`;

/** The mark alone, square, for the favicon. */
export const ICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="48" height="48" viewBox="0 0 48 48">
  <rect width="48" height="48" rx="10" fill="#1b1b1b"/>
  <circle cx="16" cy="24" r="8" fill="none" stroke="#f5b82e" stroke-width="4"/>
  <path d="M24 24h17m-5 0v6m-5-6v4" fill="none" stroke="#f5b82e" stroke-width="4" stroke-linecap="round"/>
</svg>
`;
