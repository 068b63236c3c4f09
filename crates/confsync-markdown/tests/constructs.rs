//! One small case per construct of DESIGN.md section 7: storage format in,
//! reviewed Markdown out (inline snapshots).

use std::collections::HashMap;

use confsync_markdown::{Lookup, NoLookup, to_markdown};
use insta::assert_snapshot;

fn md(storage: &str) -> String {
    to_markdown(storage, &NoLookup)
}

/// A lookup that knows one user and one page.
struct Site(HashMap<&'static str, &'static str>);

impl Lookup for Site {
    fn user_display_name(&self, account_id: &str) -> Option<String> {
        self.0.get(account_id).map(|s| (*s).to_owned())
    }
    fn page_title(&self, content_id: &str) -> Option<String> {
        self.0.get(content_id).map(|s| (*s).to_owned())
    }
}

fn site() -> Site {
    Site(HashMap::from([
        ("557058:aaaa", "Mia Krystof"),
        ("1441795", "Release plan"),
    ]))
}

#[test]
fn headings_and_paragraphs() {
    assert_snapshot!(md("<h1>Title</h1><p>First  paragraph\nwraps.</p><h3>Sub <em>heading</em></h3><p>Second.</p><h2></h2>"), @"
    # Title

    First paragraph wraps.

    ### Sub *heading*

    Second.
    ");
}

#[test]
fn inline_styles() {
    assert_snapshot!(md("<p><strong>bold</strong>, <em>it</em>, <code>a `tick`</code>, <del>gone</del>, <s>old</s>, H<sub>2</sub>O, x<sup>2</sup>, <u>under</u>, <b><strong>twice</strong></b></p>"), @"**bold**, *it*, `` a `tick` ``, ~~gone~~, ~~old~~, H<sub>2</sub>O, x<sup>2</sup>, under, **twice**");
}

#[test]
fn emphasis_moves_outer_whitespace_out_and_drops_when_empty() {
    assert_snapshot!(md("<p>a<strong> b </strong>c <em> </em>d<strong></strong></p>"), @"a **b** c d");
}

#[test]
fn emphasis_spanning_blocks_is_reopened_per_block() {
    assert_snapshot!(md("<strong><p>one</p><p>two</p></strong>"), @"
    **one**

    **two**
    ");
}

#[test]
fn links() {
    assert_snapshot!(md(r##"<p><a href="https://example.com/a(b)">text</a> <a href="https://example.com">https://example.com</a> <a href="mailto:me@example.com">me@example.com</a> <a href="javascript:alert(1)">click</a> <a href="https://x.org"></a> <a href="#top">top</a> <a name="anchor">named</a></p>"##), @"[text](https://example.com/a%28b%29) https://example.com me@example.com click https://x.org [top](#top) named");
}

#[test]
fn nested_and_ordered_lists() {
    assert_snapshot!(md(r#"<ol start="3"><li>three<ul><li>bullet</li><li><p>para one</p><p>para two</p></li></ul></li><li>four</li></ol><p>after</p><ul><li>x</li></ul>"#), @"
    3. three
       - bullet
       - para one

         para two
    4. four

    after

    - x
    ");
}

#[test]
fn a_nested_list_not_starting_at_one_is_set_apart_from_the_item_text() {
    // CommonMark lets only bullets and `1.` interrupt a paragraph: `4.` right
    // under the item's text would be read as more text (and its code fence
    // as raw HTML).
    assert_snapshot!(md(r#"<ul><li>x<ol start="4"><li>four</li><li>five</li></ol></li><li>y<ol><li>one</li></ol></li></ul>"#), @"
    - x

      4. four
      5. five
    - y
      1. one
    ");
}

#[test]
fn a_bang_before_a_link_does_not_make_an_image() {
    assert_snapshot!(md(r#"<p>Wow!<a href="https://example.com/a">docs</a> and \!<a href="https://example.com/b">b</a></p>"#), @r"Wow\![docs](https://example.com/a) and \\\![b](https://example.com/b)");
}

#[test]
fn adjacent_code_spans_keep_their_fences_apart() {
    assert_snapshot!(md(r#"<table><tr><td><ac:structured-macro ac:name="code"><ac:plain-text-body><![CDATA[x``y]]></ac:plain-text-body></ac:structured-macro><code>a</code></td></tr></table>"#), @"
    | ```x``y``` `a` |
    | --- |
    ");
}

#[test]
fn sloppy_list_items_close_themselves() {
    assert_snapshot!(md("<ul><li>one<li>two</ul>"), @"
    - one
    - two
    ");
}

#[test]
fn table_with_header_row() {
    assert_snapshot!(md("<table><thead><tr><th>Name</th><th>Value</th></tr></thead><tbody><tr><td>a</td><td>1</td></tr></tbody></table>"), @"
    | Name | Value |
    | --- | --- |
    | a | 1 |
    ");
}

#[test]
fn table_merged_cells_degrade_to_empty_neighbours() {
    assert_snapshot!(md(r#"<table><tr><th colspan="2">wide</th><th>c</th></tr><tr><td rowspan="2">tall</td><td>b1</td><td>c1</td></tr><tr><td>b2</td><td>c2</td></tr></table>"#), @"
    | wide |  | c |
    | --- | --- | --- |
    | tall | b1 | c1 |
    |  | b2 | c2 |
    ");
}

#[test]
fn table_cells_escape_pipes_and_keep_blocks_on_one_line() {
    assert_snapshot!(md("<table><tr><td><p>a | b</p><p>second</p></td><td><ul><li>x</li><li>y</li></ul></td><td><code>p|q</code></td></tr></table>"), @r"
    | a \| b<br>second | - x<br>- y | `p\|q` |
    | --- | --- | --- |
    ");
}

#[test]
fn nested_tables_are_flattened_into_the_cell() {
    assert_snapshot!(md("<table><tr><td>outer<table><tr><td>k</td><td>v</td></tr><tr><td>k2</td><td>v2</td></tr></table></td><td>z</td></tr></table>"), @r"
    | outer<br>k \| v<br>k2 \| v2 | z |
    | --- | --- |
    ");
}

#[test]
fn code_macro_with_language_and_backticks_in_body() {
    assert_snapshot!(md(r#"<ac:structured-macro ac:name="code"><ac:parameter ac:name="language">rust</ac:parameter><ac:plain-text-body><![CDATA[let s = "```";
if a < b && c > d { <ac:not-markup/> }]]></ac:plain-text-body></ac:structured-macro>"#), @r#"
    ````rust
    let s = "```";
    if a < b && c > d { <ac:not-markup/> }
    ````
    "#);
}

#[test]
fn code_macro_inside_a_list_item_is_indented() {
    assert_snapshot!(md(r#"<ul><li><p>run:</p><ac:structured-macro ac:name="code"><ac:plain-text-body><![CDATA[make test]]></ac:plain-text-body></ac:structured-macro></li></ul>"#), @"
    - run:

      ```
      make test
      ```
    ");
}

#[test]
fn noformat_and_pre() {
    assert_snapshot!(md(r#"<ac:structured-macro ac:name="noformat"><ac:plain-text-body><![CDATA[  keep   spacing]]></ac:plain-text-body></ac:structured-macro><pre>line &lt;1&gt;<br/>line 2</pre>"#), @"
    ```
      keep   spacing
    ```

    ```
    line <1>
    line 2
    ```
    ");
}

#[test]
fn admonitions_become_labelled_quotes() {
    assert_snapshot!(md(r#"<ac:structured-macro ac:name="info"><ac:rich-text-body><p>Read this.</p></ac:rich-text-body></ac:structured-macro><ac:structured-macro ac:name="note"><ac:parameter ac:name="title">Careful</ac:parameter><ac:rich-text-body><p>One.</p><ul><li>two</li></ul></ac:rich-text-body></ac:structured-macro><ac:structured-macro ac:name="warning"><ac:rich-text-body><ul><li>list first</li></ul></ac:rich-text-body></ac:structured-macro><ac:structured-macro ac:name="tip"><ac:rich-text-body><p>Tip text.</p></ac:rich-text-body></ac:structured-macro><ac:structured-macro ac:name="panel"><ac:parameter ac:name="title">Panel title</ac:parameter><ac:rich-text-body><p>Panel body.</p></ac:rich-text-body></ac:structured-macro>"#), @"
    > **Info:** Read this.

    > **Note: Careful**
    >
    > One.
    >
    > - two

    > **Warning:**
    >
    > - list first

    > **Tip:** Tip text.

    > **Panel title**
    >
    > Panel body.
    ");
}

#[test]
fn expand_keeps_title_and_body() {
    assert_snapshot!(md(r#"<ac:structured-macro ac:name="expand"><ac:parameter ac:name="title">Details</ac:parameter><ac:rich-text-body><p>Hidden text.</p></ac:rich-text-body></ac:structured-macro>"#), @"
    **Details**

    Hidden text.
    ");
}

#[test]
fn status_lozenge() {
    assert_snapshot!(md(r#"<p>State: <ac:structured-macro ac:name="status"><ac:parameter ac:name="colour">Green</ac:parameter><ac:parameter ac:name="title">In progress</ac:parameter></ac:structured-macro> (since May)</p>"#), @"State: [IN PROGRESS] (since May)");
}

#[test]
fn task_lists() {
    assert_snapshot!(md("<ac:task-list><ac:task><ac:task-id>1</ac:task-id><ac:task-status>complete</ac:task-status><ac:task-body>Ship it</ac:task-body></ac:task><ac:task><ac:task-id>2</ac:task-id><ac:task-status>incomplete</ac:task-status><ac:task-body>Tell <strong>everyone</strong></ac:task-body></ac:task></ac:task-list>"), @"
    - [x] Ship it
    - [ ] Tell **everyone**
    ");
}

#[test]
fn user_mentions_use_the_lookup_and_never_the_account_id() {
    let storage = r#"<p>Ping <ac:link><ri:user ri:account-id="557058:aaaa"/></ac:link> and <ac:link><ri:user ri:account-id="557058:zzzz"/></ac:link>.</p>"#;
    assert_snapshot!(to_markdown(storage, &site()), @"Ping @Mia Krystof and @unknown-user.");
    assert_snapshot!(md(storage), @"Ping @unknown-user and @unknown-user.");
}

#[test]
fn page_and_blog_post_links() {
    let storage = r#"<p><ac:link><ri:page ri:content-title="Setup guide" ri:space-key="DOCS"/></ac:link>, <ac:link><ri:page ri:content-title="Setup guide"/><ac:plain-text-link-body><![CDATA[the guide]]></ac:plain-text-link-body></ac:link>, <ac:link><ri:page ri:content-id="1441795"/></ac:link>, <ac:link ac:anchor="faq"><ri:page ri:content-title="FAQ"/><ac:link-body><em>answers</em></ac:link-body></ac:link>, <ac:link><ri:blogpost ri:content-title="Launch" ri:posting-day="2024/01/01"/></ac:link></p>"#;
    assert_snapshot!(to_markdown(storage, &site()), @"Setup guide, the guide, Release plan, *answers*, Launch");
}

#[test]
fn attachments_and_images() {
    assert_snapshot!(md(r#"<p><ac:link><ri:attachment ri:filename="design doc.pdf"/></ac:link> and <ac:link><ri:attachment ri:filename="a.xlsx"/><ac:link-body>the sheet</ac:link-body></ac:link></p><ac:image ac:align="center" ac:alt="Diagram"><ri:attachment ri:filename="arch.png"/><ac:caption><p>Figure 1</p></ac:caption></ac:image><p>Logo <ac:image><ri:url ri:value="https://example.com/logo.png"/></ac:image> inline, <img src="x.gif" alt="plain img"/></p>"#), @"
    [design doc.pdf](design%20doc.pdf) and [the sheet](a.xlsx)

    ![Diagram](arch.png) Figure 1

    Logo ![](https://example.com/logo.png) inline, ![plain img](x.gif)
    ");
}

#[test]
fn emoticons() {
    assert_snapshot!(md(r#"<p>Done <ac:emoticon ac:name="tick"/> <ac:emoticon ac:name="blue-star" ac:emoji-shortname=":rocket:" ac:emoji-fallback="🚀"/> <ac:emoticon ac:name="blue-star" ac:emoji-shortname=":custom:" ac:emoji-fallback=":custom:"/></p>"#), @"Done ✅ 🚀 :custom:");
}

#[test]
fn layouts_are_flattened_in_order() {
    assert_snapshot!(md(r#"<ac:layout><ac:layout-section ac:type="two_equal"><ac:layout-cell><p>left</p></ac:layout-cell><ac:layout-cell><p>right</p></ac:layout-cell></ac:layout-section><ac:layout-section ac:type="single"><ac:layout-cell><p>below</p></ac:layout-cell></ac:layout-section></ac:layout>"#), @"
    left

    right

    below
    ");
}

#[test]
fn jira_macro_becomes_the_issue_key() {
    assert_snapshot!(md(r#"<p>Fixed in <ac:structured-macro ac:name="jira"><ac:parameter ac:name="server">System JIRA</ac:parameter><ac:parameter ac:name="key">OPS-42</ac:parameter></ac:structured-macro>.</p>"#), @"Fixed in OPS-42.");
}

#[test]
fn excerpts_and_includes() {
    assert_snapshot!(md(r#"<ac:structured-macro ac:name="excerpt"><ac:rich-text-body><p>Summary kept.</p></ac:rich-text-body></ac:structured-macro><ac:structured-macro ac:name="excerpt-include"><ac:parameter ac:name=""><ac:link><ri:page ri:content-title="Glossary"/></ac:link></ac:parameter></ac:structured-macro><ac:structured-macro ac:name="include"><ac:parameter ac:name=""><ac:link><ri:page ri:content-title="Footer"/></ac:link></ac:parameter></ac:structured-macro>"#), @"
    Summary kept.

    *Included page: Glossary*

    *Included page: Footer*
    ");
}

#[test]
fn content_less_macros_are_dropped_and_unknown_macros_keep_their_text() {
    assert_snapshot!(md(r#"<ac:structured-macro ac:name="toc"><ac:parameter ac:name="maxLevel">3</ac:parameter></ac:structured-macro><ac:structured-macro ac:name="children"/><h2><ac:structured-macro ac:name="anchor"><ac:parameter ac:name="">here</ac:parameter></ac:structured-macro>Heading</h2><ac:structured-macro ac:name="vendor-widget"><ac:parameter ac:name="mode">x</ac:parameter><ac:rich-text-body><p>Widget <strong>text</strong></p></ac:rich-text-body></ac:structured-macro><ac:structured-macro ac:name="plantuml"><ac:plain-text-body><![CDATA[A -> B]]></ac:plain-text-body></ac:structured-macro>"#), @"
    ## Heading

    Widget **text**

    ```plantuml
    A -> B
    ```
    ");
}

#[test]
fn adf_extensions_render_once() {
    assert_snapshot!(md(r#"<ac:adf-extension><ac:adf-node type="panel"><ac:adf-attribute key="panel-type">note</ac:adf-attribute><ac:adf-content><p>Shown once.</p></ac:adf-content></ac:adf-node><ac:adf-fallback><div class="panel"><p>Shown once.</p></div></ac:adf-fallback></ac:adf-extension><ac:adf-extension><ac:adf-node type="decision-list"/><ac:adf-fallback><p>Fallback only.</p></ac:adf-fallback></ac:adf-extension>"#), @"
    > **Note:** Shown once.

    Fallback only.
    ");
}

#[test]
fn html_entities_resolve() {
    assert_snapshot!(md("<p>a&nbsp;b &rsquo;q&rsquo; wait&hellip; &copy; &#8364; &#x1F600; &NotNestedGreaterGreater; &bogus; AT&amp;T</p>"), @r"a b ’q’ wait… © € 😀 \&NotNestedGreaterGreater; \&bogus; AT&T");
}

#[test]
fn text_that_looks_like_markup_is_escaped() {
    assert_snapshot!(md("<p>&lt;ac:link&gt; &lt;b&gt;x&lt;/b&gt; *not em* _nor_ snake_case `tick` [a](b) ~x~ a\\*b &amp;amp;</p><p># not a heading</p><p>1. not a list</p><p>- nor this</p><p>&gt; nor a quote</p><p>[ ] nor a task</p>"), @r"
    \<ac:link> \<b>x\</b> \*not em\* \_nor\_ snake_case \`tick\` [a\](b) \~x\~ a\\\*b \&amp;

    \# not a heading

    1\. not a list

    \- nor this

    \> nor a quote

    \[ ] nor a task
    ");
}

#[test]
fn malformed_input_degrades_gracefully() {
    assert_snapshot!(md("<p>unclosed <strong>bold<p>next</em> para</p></div><li>stray item<p>x <3 y & z <!-- cut"), @r"
    unclosed **bold**

    **next para**

    - **stray item**

      **x \<3 y & z \<!-- cut**
    ");
    assert_snapshot!(md("<p>cdata <![CDATA[kept <as> text"), @r"cdata kept \<as> text");
}

#[test]
fn dates_placeholders_and_hidden_parts() {
    assert_snapshot!(md(r#"<p>Due <time datetime="2024-06-30"/>. <ac:placeholder>Type here</ac:placeholder></p><script>alert(1)</script><style>p{}</style>"#), @"Due 2024-06-30.");
}

#[test]
fn hard_breaks_and_rules() {
    assert_snapshot!(md("<p>one<br/>two<br/><br/>three<br/></p><hr/><p><br/>after</p>"), @r"
    one\
    two\
    three

    ---

    after
    ");
}

#[test]
fn blockquotes_nest() {
    assert_snapshot!(md("<blockquote><p>outer</p><blockquote><p>inner</p></blockquote><p>outer again</p></blockquote>"), @"
    > outer
    >
    > > inner
    >
    > outer again
    ");
}
