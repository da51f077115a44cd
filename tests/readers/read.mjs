// Reads feed files with feedsmith, a parser written apart from feedparser (its own XML
// parser, its own JSON Feed reader), and prints what a reader would show of each, as
// JSON, for tests/test_readers.py to compare with feedparser's reading.
//
//   node read.mjs FILE...   ->   {"FILE": {"format", "title", "entries": [...]}, ...}

import { readFileSync } from 'node:fs'
import { parseFeed } from 'feedsmith'

const text = (value) => (value && typeof value === 'object' ? value.value : value) ?? null
// to the second, in UTC: the precision RSS dates have
const when = (value) => (value ? new Date(value).toISOString().slice(0, 19) + 'Z' : null)
const unescape = (value) =>
  value
    .replaceAll('&quot;', '"')
    .replaceAll('&#x27;', "'")
    .replaceAll('&#39;', "'")
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&amp;', '&')
const images = (html) =>
  [...(html ?? '').matchAll(/<img\b[^>]*?\bsrc="([^"]*)"/g)].map((match) => unescape(match[1]))
const urls = (list) => (list ?? []).map((item) => item.url)

function rss(item) {
  return {
    id: item.guid?.value ?? null,
    title: item.title ?? null,
    link: item.link ?? null,
    published: when(item.pubDate),
    updated: null,
    author: item.dc?.creators?.[0] ?? item.authors?.[0] ?? null,
    tags: (item.categories ?? []).map((category) => category.name),
    media_content: urls(item.media?.contents),
    media_thumbnail: urls(item.media?.thumbnails),
    enclosure: urls(item.enclosures),
    // a reader shows content:encoded, else the description (which is where RSS carries
    // the HTML of an entry that has no excerpt)
    content_img: images(item.content?.encoded ?? item.description),
    image: null,
  }
}

function atom(entry) {
  const links = entry.links ?? []
  const alternate = links.find((link) => (link.rel ?? 'alternate') === 'alternate')
  return {
    id: entry.id ?? null,
    title: text(entry.title),
    link: alternate?.href ?? null,
    published: when(entry.published),
    updated: when(entry.updated),
    author: entry.authors?.[0]?.name ?? null,
    tags: (entry.categories ?? []).map((category) => category.term),
    media_content: urls(entry.media?.contents),
    media_thumbnail: urls(entry.media?.thumbnails),
    enclosure: links.filter((link) => link.rel === 'enclosure').map((link) => link.href),
    content_img: images(text(entry.content) ?? text(entry.summary)),
    image: null,
  }
}

function json(item) {
  return {
    id: item.id ?? null,
    title: item.title ?? null,
    link: item.url ?? null,
    published: when(item.date_published),
    updated: when(item.date_modified),
    author: item.authors?.[0]?.name ?? null,
    tags: item.tags ?? [],
    media_content: [],
    media_thumbnail: [],
    enclosure: [],
    content_img: images(item.content_html),
    image: item.image ?? null,
  }
}

const result = {}
for (const path of process.argv.slice(2)) {
  const { format, feed } = parseFeed(readFileSync(path, 'utf8'))
  const read = { rss, atom, json }[format]
  if (!read) throw new Error(`${path}: read as ${format}`)
  result[path] = {
    format,
    title: text(feed.title),
    entries: (feed.items ?? feed.entries ?? []).map(read),
  }
}
process.stdout.write(JSON.stringify(result))
