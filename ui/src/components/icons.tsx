// Inline icons: bundled with the app, nothing fetched.

const common = { width: 18, height: 18, viewBox: "0 0 24 24", fill: "none", stroke: "currentColor",
  "stroke-width": 2, "stroke-linecap": "round", "stroke-linejoin": "round", "aria-hidden": "true" } as const;

export const PlusIcon = () => (
  <svg {...common}><path d="M12 5v14M5 12h14" /></svg>
);
export const PencilIcon = () => (
  <svg {...common}><path d="M4 20h4L19 9l-4-4L4 16v4z" /></svg>
);
export const TrashIcon = () => (
  <svg {...common}><path d="M4 7h16M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3" /></svg>
);
export const SendIcon = () => (
  <svg {...common}><path d="M5 12h14M13 6l6 6-6 6" /></svg>
);
export const StopIcon = () => (
  <svg {...common}><rect x="6" y="6" width="12" height="12" rx="2" fill="currentColor" /></svg>
);
export const SunIcon = () => (
  <svg {...common}><circle cx="12" cy="12" r="4" /><path d="M12 2v2M12 20v2M2 12h2M20 12h2M5 5l1.5 1.5M17.5 17.5L19 19M5 19l1.5-1.5M17.5 6.5L19 5" /></svg>
);
export const MoonIcon = () => (
  <svg {...common}><path d="M20 14.5A8 8 0 1 1 9.5 4a6.5 6.5 0 0 0 10.5 10.5z" /></svg>
);
export const MonitorIcon = () => (
  <svg {...common}><rect x="3" y="4" width="18" height="12" rx="2" /><path d="M8 20h8M12 16v4" /></svg>
);
export const LogoIcon = () => (
  <svg width="28" height="28" viewBox="0 0 24 24" aria-hidden="true">
    <rect width="24" height="24" rx="6" fill="var(--accent)" />
    <path d="M7 9h10M7 13h6" stroke="var(--accent-fg)" stroke-width="2" stroke-linecap="round" />
  </svg>
);
