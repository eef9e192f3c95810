// The page's words in the worker's language: the server puts its translations in the page's
// data-messages (JSON, from fieldapp/fill/views.py); the English here is the fallback.

let messages = {};
let language = 'en';

export function setLanguage(lang, json) {
  language = lang || 'en';
  try {
    messages = JSON.parse(json || '{}');
  } catch (error) {
    messages = {};
  }
}

export function t(key, english, vars = {}) {
  const text = messages[key] || english;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
}

function two(n) {
  return String(n).padStart(2, '0');
}

// day.month.year as Kazakhstan reads it (ISO year-month-day in English): never month/day/year
export function dateText(date) {
  const [d, m, y] = [two(date.getDate()), two(date.getMonth() + 1), date.getFullYear()];
  return language === 'en' ? `${y}-${m}-${d}` : `${d}.${m}.${y}`;
}

export function timeText(date, seconds = false) {
  const hm = `${two(date.getHours())}:${two(date.getMinutes())}`;
  return seconds ? `${hm}:${two(date.getSeconds())}` : hm;
}

// a form translation named for the page's language: "Русский (ru)", or just "ru"
export function formLanguageFor(languages) {
  return (
    languages.find(
      (l) =>
        l.isSyntheticDefault == null &&
        (l.language === language ||
          l.language.trim().endsWith(`(${language})`) ||
          (l.locale && l.locale.language === language)),
    ) || null
  );
}
