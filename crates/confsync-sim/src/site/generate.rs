//! The seeded site generator: spaces, page trees, blog posts, comments with
//! replies, labels and edit histories, spread over the year before the sim
//! clock's start.
//!
//! Deterministic for a given (seed, site index, config, start time). It
//! builds metadata only, in one pass, in time linear in the number of
//! objects; it never generates bodies.

use std::collections::HashMap;
use std::sync::Arc;

use crate::clock::Millis;
use crate::config::SimConfig;
use crate::rng::{Rng, hash};
use crate::site::users::UserPool;
use crate::site::words::{LABELS, SPACE_NAMES, TITLE_KINDS, TITLE_NOUNS, WORDS};
use crate::site::{
    Comment, CommentKind, Content, ContentType, Label, Resolution, SiteData, SiteInfo, Space,
    SpaceType, Status,
};

const DAY_MS: Millis = 86_400_000;
const SITE_NAMES: &[&str] = &[
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark",
    "Wayne",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Wonka",
    "Gringotts",
];
/// Deepest page nesting the generator creates (home page = depth 0).
const MAX_DEPTH: u8 = 12;

/// The immutable identity of site `index`.
pub(crate) fn site_info(seed: u64, index: usize) -> SiteInfo {
    let mut rng = Rng::for_parts(seed, &[0x0051_7E1D, index as u64]);
    let base = SITE_NAMES[index % SITE_NAMES.len()];
    let name = if index < SITE_NAMES.len() {
        base.to_owned()
    } else {
        format!("{base} {}", index / SITE_NAMES.len() + 1)
    };
    let slug = format!(
        "{}-{:04x}{}",
        base.to_lowercase(),
        rng.below(0x10000),
        index
    );
    SiteInfo {
        cloud_id: rng.uuid(),
        url: format!("https://{slug}.atlassian.net"),
        name,
    }
}

/// Generates site `index` as it stands at `now`.
pub(crate) fn generate_site(
    seed: u64,
    index: usize,
    config: &SimConfig,
    users: &Arc<UserPool>,
    now: Millis,
) -> SiteData {
    let site_seed = hash(seed, &[0x5173, index as u64]);
    let mut rng = Rng::new(site_seed);
    let first_id = rng.range(65_000, 400_000);
    let mut g = Generator {
        site: SiteData::new(
            site_seed,
            Arc::clone(users),
            first_id,
            rng.range(100_000, 600_000),
        ),
        rng,
        users,
        now,
        positions: HashMap::new(),
        depth: Vec::new(),
        space_pages: Vec::new(),
    };
    g.labels();
    g.spaces(config.effective_spaces(), config.pages_per_site);
    g.contents(config.pages_per_site, config.effective_blogposts());
    g.comments(
        config.effective_footer_comments(),
        config.effective_inline_comments(),
    );
    g.site
}

struct Generator<'a> {
    site: SiteData,
    rng: Rng,
    users: &'a UserPool,
    now: Millis,
    /// Next `position` per parent id.
    positions: HashMap<u64, u32>,
    /// Depth of each content (same index as `site.contents`).
    depth: Vec<u8>,
    /// Content indexes of the pages of each space.
    space_pages: Vec<Vec<u32>>,
}

impl Generator<'_> {
    fn gap(&mut self) -> u64 {
        self.rng.range(1, 12)
    }

    fn labels(&mut self) {
        for name in LABELS {
            let id = self.site.next_label_id;
            self.site.next_label_id += self.rng.range(1, 40_000);
            self.site.labels.push(Label {
                id,
                name: (*name).to_owned(),
            });
        }
    }

    fn spaces(&mut self, global: usize, pages: usize) {
        // Every space needs a home page; never create more spaces than pages.
        let global = global.min(pages.saturating_sub(1)).max(1);
        let created_base = self.now - 400 * DAY_MS;
        for i in 0..=global {
            let personal = i == global;
            let (key, name, kind) = if personal {
                let admin = self.users.get(0);
                (
                    format!("~{}", admin.account_id.replace(':', "")),
                    admin.display_name.clone(),
                    SpaceType::Personal,
                )
            } else {
                let (key, name) = SPACE_NAMES[i % SPACE_NAMES.len()];
                if i < SPACE_NAMES.len() {
                    (key.to_owned(), name.to_owned(), SpaceType::Global)
                } else {
                    let n = i / SPACE_NAMES.len() + 1;
                    (
                        format!("{key}{n}"),
                        format!("{name} {n}"),
                        SpaceType::Global,
                    )
                }
            };
            let gap = self.gap();
            let id = self.site.alloc_id(gap);
            let author = if personal {
                0
            } else {
                self.users.pick_active(&mut self.rng)
            };
            let created_at =
                created_base + (i as i64) * DAY_MS + self.rng.below(DAY_MS as u64) as i64;
            self.site.spaces.push(Space {
                id,
                key,
                name,
                kind,
                // One archived space on larger sites: its pages still list.
                archived: !personal && global >= 4 && i == global - 1,
                author,
                created_at,
                homepage: 0,
            });
            self.space_pages.push(Vec::new());
            self.home_page(self.site.spaces.len() - 1);
        }
    }

    fn home_page(&mut self, space: usize) {
        let created_at = self.site.spaces[space].created_at + 200;
        let title = self.site.spaces[space].name.clone();
        let author = self.site.spaces[space].author;
        let gap = self.gap();
        let id = self.site.alloc_id(gap);
        self.site.spaces[space].homepage = id;
        self.push_content(NewContent {
            id,
            kind: ContentType::Page,
            space: space as u32,
            parent: 0,
            created_at,
            title: &title,
            author,
            depth: 0,
        });
    }

    fn contents(&mut self, pages: usize, blogposts: usize) {
        let pages_left = pages.saturating_sub(self.site.spaces.len());
        let total = pages_left + blogposts;
        let start = self.now - 365 * DAY_MS;
        let span = 360 * DAY_MS;
        for i in 0..total {
            // Spread blog posts evenly between the pages, in creation order.
            let is_blog = blogposts > 0 && (i + 1) * blogposts / total > i * blogposts / total;
            let created_at = start
                + (span as i128 * i as i128 / total.max(1) as i128) as i64
                + self.rng.below(3_600_000) as i64;
            if is_blog {
                self.blogpost(created_at);
            } else {
                self.page(created_at);
            }
        }
    }

    fn pick_space(&mut self) -> usize {
        let n = self.site.spaces.len();
        if n == 1 || self.rng.chance(3, 100) {
            return n - 1; // the personal space
        }
        // Skewed towards the first spaces: real sites have a few big spaces.
        let global = (n - 1) as u64;
        let u = self.rng.below(global * global);
        (global - 1 - (u as f64).sqrt() as u64).min(global - 1) as usize
    }

    fn page(&mut self, created_at: Millis) {
        let space = self.pick_space();
        let home = self.site.spaces[space].homepage;
        let (parent, depth) = self.pick_parent(space, home);
        let ordinal = self.space_pages[space].len();
        let title = self.page_title(ordinal);
        let author = self.users.pick_author(&mut self.rng);
        let gap = self.gap();
        let id = self.site.alloc_id(gap);
        self.push_content(NewContent {
            id,
            kind: ContentType::Page,
            space: space as u32,
            parent,
            created_at,
            title: &title,
            author,
            depth,
        });
    }

    fn pick_parent(&mut self, space: usize, home: u64) -> (u64, u8) {
        let pages = &self.space_pages[space];
        if pages.len() <= 1 || self.rng.chance(20, 100) {
            return (home, 1);
        }
        // Prefer recent pages so that chains grow several levels deep.
        let idx = if self.rng.chance(60, 100) {
            let recent = pages.len().min(8);
            pages[pages.len() - 1 - self.rng.index(recent)]
        } else {
            pages[self.rng.index(pages.len())]
        } as usize;
        let depth = self.depth[idx];
        if depth >= MAX_DEPTH {
            (home, 1)
        } else {
            (self.site.contents[idx].id, depth + 1)
        }
    }

    fn page_title(&mut self, ordinal: usize) -> String {
        let noun = self.rng.pick(TITLE_NOUNS);
        match self.rng.below(5) {
            0 => {
                let month = self.rng.range(1, 12);
                let day = self.rng.range(1, 28);
                format!("2025-{month:02}-{day:02} Meeting notes {noun} ({ordinal})")
            }
            1 => {
                let word = self.rng.pick(WORDS);
                format!("{noun}: {word} & more {ordinal}")
            }
            _ => {
                let kind = self.rng.pick(TITLE_KINDS);
                format!("{noun} {kind} {ordinal}")
            }
        }
    }

    fn blogpost(&mut self, created_at: Millis) {
        let space = self.pick_space();
        let noun = self.rng.pick(TITLE_NOUNS);
        let word = self.rng.pick(WORDS);
        let title = format!("{noun} update: {word} #{}", self.site.contents.len());
        let author = self.users.pick_author(&mut self.rng);
        let gap = self.gap();
        let id = self.site.alloc_id(gap);
        self.push_content(NewContent {
            id,
            kind: ContentType::BlogPost,
            space: space as u32,
            parent: 0,
            created_at,
            title: &title,
            author,
            depth: 0,
        });
    }

    fn push_content(&mut self, new: NewContent<'_>) {
        let (title_off, title_len) = self.site.intern_title(new.title);
        let (version, modified_at) = self.history(new.created_at);
        let is_home = new.parent == 0 && new.kind == ContentType::Page;
        let status = self.initial_status(new.kind, is_home);
        let position = if new.kind == ContentType::Page {
            let next = self.positions.entry(new.parent).or_insert(0);
            *next += 1;
            *next * 16 + (new.id % 16) as u32
        } else {
            0
        };
        let owner = if self.rng.chance(9, 10) {
            new.author
        } else {
            self.users.pick_active(&mut self.rng)
        };
        let version_author = if version == 1 || self.rng.chance(1, 2) {
            new.author
        } else {
            self.users.pick_author(&mut self.rng)
        };
        let labels = self.pick_labels();
        if new.kind == ContentType::Page {
            self.space_pages[new.space as usize].push(self.site.contents.len() as u32);
        }
        self.depth.push(new.depth);
        self.site.contents.push(Content {
            id: new.id,
            parent: new.parent,
            created_at: new.created_at,
            modified_at,
            labels,
            title_off,
            title_len,
            space: new.space,
            position,
            author: new.author,
            owner,
            version_author,
            version,
            kind: new.kind,
            status,
            minor_edit: version > 1 && self.rng.chance(1, 5),
        });
    }

    /// (version number, version.createdAt): most content was edited a few
    /// times after creation, some often.
    fn history(&mut self, created_at: Millis) -> (u32, Millis) {
        let version = match self.rng.below(100) {
            0..=34 => 1,
            35..=89 => self.rng.range(2, 6) as u32,
            _ => self.rng.range(7, 60) as u32,
        };
        let latest = self.now - 60_000;
        let modified_at = if version == 1 || latest <= created_at {
            created_at + self.rng.range(100, 2_000) as i64
        } else {
            created_at + self.rng.below((latest - created_at) as u64) as i64
        };
        (version, modified_at.min(latest.max(created_at)))
    }

    fn initial_status(&mut self, kind: ContentType, is_home: bool) -> Status {
        if is_home {
            return Status::Current;
        }
        match (kind, self.rng.below(200)) {
            (ContentType::Page, 0..=2) => Status::Archived,
            (_, 3..=4) => Status::Trashed,
            _ => Status::Current,
        }
    }

    fn pick_labels(&mut self) -> Box<[u32]> {
        let count = match self.rng.below(10) {
            0..=3 => 0,
            4..=6 => 1,
            7..=8 => 2,
            _ => 3,
        };
        let mut labels: Vec<u32> = Vec::with_capacity(count);
        while labels.len() < count {
            let label = self.rng.index(self.site.labels.len()) as u32;
            if !labels.contains(&label) {
                labels.push(label);
            }
        }
        labels.into_boxed_slice()
    }

    fn comments(&mut self, footer: usize, inline: usize) {
        let total = footer + inline;
        if self.site.contents.is_empty() {
            return;
        }
        let mut roots: [Vec<u32>; 2] = [Vec::new(), Vec::new()];
        for i in 0..total {
            let is_inline = inline > 0 && (i + 1) * inline / total > i * inline / total;
            let kind = if is_inline {
                CommentKind::Inline
            } else {
                CommentKind::Footer
            };
            self.comment(kind, &mut roots);
        }
        // Comment ids were allocated in creation order of the loop, but their
        // timestamps follow their containers: keep the vector sorted by id.
        self.site.comments.sort_by_key(|c| c.id);
    }

    fn comment(&mut self, kind: CommentKind, roots: &mut [Vec<u32>; 2]) {
        let slot = usize::from(kind == CommentKind::Inline);
        let all_of_kind = &roots[slot];
        let reply_to = if !all_of_kind.is_empty() && self.rng.chance(30, 100) {
            Some(all_of_kind[self.rng.index(all_of_kind.len())] as usize)
        } else {
            None
        };
        let gap = self.gap();
        let id = self.site.alloc_id(gap);
        let author = self.users.pick_author(&mut self.rng);
        let comment = match reply_to {
            Some(parent_idx) => self.reply(id, kind, parent_idx, author),
            None => self.root_comment(id, kind, author),
        };
        // Inline replies are flat (replies to the root); footer threads nest.
        if reply_to.is_none() || kind == CommentKind::Footer {
            roots[slot].push(self.site.comments.len() as u32);
        }
        self.site.comments.push(comment);
    }

    fn root_comment(&mut self, id: u64, kind: CommentKind, author: u32) -> Comment {
        let container_idx = self.pick_container(kind);
        let container = &self.site.contents[container_idx];
        let (container_id, container_type, container_created) =
            (container.id, container.kind, container.created_at);
        let created_at = self.after(container_created);
        let resolution = if kind == CommentKind::Inline {
            match self.rng.below(100) {
                0..=54 => Resolution::Open,
                55..=84 => Resolution::Resolved,
                85..=94 => Resolution::Reopened,
                _ => Resolution::Dangling,
            }
        } else {
            Resolution::Open
        };
        self.finish_comment(CommentSeed {
            id,
            kind,
            container: container_id,
            container_type,
            parent: 0,
            created_at,
            author,
            resolution,
        })
    }

    fn reply(&mut self, id: u64, kind: CommentKind, parent_idx: usize, author: u32) -> Comment {
        let parent = &self.site.comments[parent_idx];
        let seed = CommentSeed {
            id,
            kind,
            container: parent.container,
            container_type: parent.container_type,
            parent: parent.id,
            created_at: 0,
            author,
            resolution: parent.resolution,
        };
        let created_at = self.after(parent.created_at);
        let mut comment = self.finish_comment(CommentSeed { created_at, ..seed });
        comment.parent_only = self.rng.chance(1, 2);
        comment
    }

    fn finish_comment(&mut self, seed: CommentSeed) -> Comment {
        let version = if self.rng.chance(85, 100) {
            1
        } else {
            self.rng.range(2, 4) as u32
        };
        let modified_at = if version == 1 {
            seed.created_at + self.rng.range(50, 900) as i64
        } else {
            self.after(seed.created_at)
        };
        let resolved = matches!(seed.resolution, Resolution::Resolved | Resolution::Reopened);
        let resolution_at = if resolved && seed.kind == CommentKind::Inline {
            self.after(seed.created_at)
        } else {
            0
        };
        Comment {
            id: seed.id,
            container: seed.container,
            parent: seed.parent,
            created_at: seed.created_at,
            modified_at,
            resolution_at,
            version_author: seed.author,
            version,
            resolution_by: if resolution_at != 0 {
                self.users.pick_active(&mut self.rng)
            } else {
                0
            },
            kind: seed.kind,
            container_type: seed.container_type,
            status: Status::Current,
            resolution: seed.resolution,
            parent_only: false,
        }
    }

    fn pick_container(&mut self, kind: CommentKind) -> usize {
        for _ in 0..8 {
            let idx = self.rng.index(self.site.contents.len());
            let content = &self.site.contents[idx];
            // Inline comments sit mostly on pages; blog posts get a few.
            if kind == CommentKind::Footer
                || content.kind == ContentType::Page
                || self.rng.chance(1, 5)
            {
                return idx;
            }
        }
        0
    }

    /// A time between `t` and a minute ago.
    fn after(&mut self, t: Millis) -> Millis {
        let latest = self.now - 60_000;
        if latest <= t {
            return t + 1;
        }
        t + self.rng.below((latest - t) as u64) as i64
    }
}

struct NewContent<'a> {
    id: u64,
    kind: ContentType,
    space: u32,
    parent: u64,
    created_at: Millis,
    title: &'a str,
    author: u32,
    depth: u8,
}

#[derive(Clone, Copy)]
struct CommentSeed {
    id: u64,
    kind: CommentKind,
    container: u64,
    container_type: ContentType,
    parent: u64,
    created_at: Millis,
    author: u32,
    resolution: Resolution,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(pages: usize) -> SiteData {
        let config = SimConfig::default().pages(pages);
        let users = Arc::new(UserPool::generate(4, config.effective_users()));
        generate_site(4, 0, &config, &users, 1_790_000_000_000)
    }

    #[test]
    fn generation_is_deterministic() {
        let a = site(500);
        let b = site(500);
        assert_eq!(a.contents.len(), b.contents.len());
        for (x, y) in a.contents.iter().zip(&b.contents) {
            assert_eq!(
                (x.id, x.parent, x.modified_at),
                (y.id, y.parent, y.modified_at)
            );
            assert_eq!(a.title(x), b.title(y));
        }
        assert_eq!(site_info(4, 0), site_info(4, 0));
        assert_ne!(site_info(4, 0).cloud_id, site_info(4, 1).cloud_id);
    }

    #[test]
    fn site_has_the_expected_shape() {
        let s = site(2_000);
        let counts = s.counts();
        assert_eq!(counts.pages, 2_000);
        assert_eq!(counts.blogposts, 200);
        assert_eq!(counts.footer_comments, 1_000);
        assert_eq!(counts.inline_comments, 500);
        assert!(s.spaces.iter().any(|sp| sp.kind == SpaceType::Personal));
        assert!(s.contents.windows(2).all(|w| w[0].id < w[1].id));
        assert!(s.comments.windows(2).all(|w| w[0].id < w[1].id));
        // Trees several levels deep.
        let depth = |mut id: u64| {
            let mut d = 0;
            while let Some(c) = s.content(id) {
                if c.parent == 0 {
                    break;
                }
                id = c.parent;
                d += 1;
            }
            d
        };
        assert!(s.contents.iter().map(|c| depth(c.id)).max().unwrap() >= 4);
        assert!(s.contents.iter().any(|c| c.version > 1));
        assert!(s.contents.iter().any(|c| c.status == Status::Archived));
        assert!(s.contents.iter().any(|c| c.status == Status::Trashed));
        assert!(s.comments.iter().any(|c| c.parent != 0 && c.parent_only));
        assert!(
            s.comments
                .iter()
                .any(|c| c.resolution == Resolution::Resolved)
        );
        assert!(s.contents.iter().all(|c| c.modified_at >= c.created_at));
    }
}
