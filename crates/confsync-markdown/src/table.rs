//! GFM table layout: collects the cells of one table (already rendered to
//! inline Markdown by the writer) and lays them out as pipe rows, with
//! merged cells degraded to empty neighbours.
//!
//! It must keep every cell's text, and its output must stay linear in the
//! input: the column count is capped, and overflowing cells are folded into
//! the last column rather than widening every row.

/// Columns beyond this fold into the last one; rows are padded to the
/// widest row, so an unbounded width would make output quadratic.
const MAX_COLUMNS: usize = 64;

#[derive(Debug, Default)]
struct Cell {
    text: String,
    colspan: usize,
    rowspan: usize,
}

#[derive(Debug, Default)]
struct Row {
    cells: Vec<Cell>,
}

#[derive(Debug)]
pub(crate) struct Table {
    rows: Vec<Row>,
    row: Option<Row>,
    cell: Option<Cell>,
    caption: String,
    in_caption: bool,
}

impl Table {
    pub(crate) fn new() -> Self {
        Table {
            rows: Vec::new(),
            row: None,
            cell: None,
            caption: String::new(),
            in_caption: false,
        }
    }

    /// Where content goes now: the open cell, the caption, or an implicit
    /// cell for text that sits directly in a row or table.
    pub(crate) fn buffer(&mut self) -> &mut String {
        if self.in_caption {
            return &mut self.caption;
        }
        let cell = self.cell.get_or_insert_with(|| Cell {
            colspan: 1,
            rowspan: 1,
            ..Cell::default()
        });
        &mut cell.text
    }

    pub(crate) fn start_row(&mut self) {
        self.end_row();
        self.row = Some(Row::default());
    }

    pub(crate) fn end_row(&mut self) {
        self.end_cell();
        if let Some(row) = self.row.take()
            && !row.cells.is_empty()
        {
            self.rows.push(row);
        }
    }

    pub(crate) fn start_cell(&mut self, colspan: usize, rowspan: usize) {
        self.end_cell();
        self.cell = Some(Cell {
            text: String::new(),
            colspan: colspan.clamp(1, MAX_COLUMNS),
            rowspan: rowspan.max(1),
        });
    }

    pub(crate) fn end_cell(&mut self) {
        if let Some(mut cell) = self.cell.take() {
            let trimmed = cell.text.trim_end().len();
            cell.text.truncate(trimmed);
            self.row.get_or_insert_with(Row::default).cells.push(cell);
        }
    }

    pub(crate) fn start_caption(&mut self) {
        self.end_cell();
        if !self.caption.is_empty() {
            self.caption.push(' ');
        }
        self.in_caption = true;
    }

    pub(crate) fn end_caption(&mut self) {
        self.in_caption = false;
    }

    /// Lays the table out: the caption, then the GFM lines (empty when the
    /// table has no text at all).
    pub(crate) fn render(mut self) -> (String, Vec<String>) {
        self.in_caption = false;
        self.end_row();
        let caption = std::mem::take(&mut self.caption);
        if self
            .rows
            .iter()
            .all(|r| r.cells.iter().all(|c| c.text.is_empty()))
        {
            return (caption, Vec::new());
        }

        // Place cells on a grid: a colspan leaves empty cells to its right,
        // a rowspan leaves empty cells below.
        let mut grid: Vec<Vec<String>> = Vec::with_capacity(self.rows.len());
        let mut carry: Vec<usize> = Vec::new();
        for row in self.rows {
            let mut out: Vec<String> = Vec::new();
            let mut column = 0;
            let skip_carried =
                |out: &mut Vec<String>, column: &mut usize, carry: &mut Vec<usize>| {
                    while *column < carry.len() && carry[*column] > 0 && *column < MAX_COLUMNS {
                        carry[*column] -= 1;
                        out.push(String::new());
                        *column += 1;
                    }
                };
            for cell in row.cells {
                skip_carried(&mut out, &mut column, &mut carry);
                if column >= MAX_COLUMNS {
                    // Too wide: keep the text in the last column.
                    if let Some(last) = out.last_mut() {
                        if !last.is_empty() && !cell.text.is_empty() {
                            last.push_str(" \\| ");
                        }
                        last.push_str(&cell.text);
                    }
                    continue;
                }
                let span = cell.colspan.min(MAX_COLUMNS - column);
                if cell.rowspan > 1 {
                    if carry.len() < column + span {
                        carry.resize(column + span, 0);
                    }
                    for c in &mut carry[column..column + span] {
                        *c = cell.rowspan - 1;
                    }
                }
                out.push(cell.text);
                for _ in 1..span {
                    out.push(String::new());
                }
                column += span;
            }
            skip_carried(&mut out, &mut column, &mut carry);
            grid.push(out);
        }
        let columns = grid.iter().map(Vec::len).max().unwrap_or(0).max(1);

        let mut lines = Vec::with_capacity(grid.len() + 2);
        let mut rows = grid.into_iter();
        // GFM needs a header row. Confluence header rows come first; a table
        // without one uses its first row, which reads better than an empty
        // header line.
        let first = rows.next().unwrap_or_default();
        lines.push(render_row(&first, columns));
        let mut separator = String::with_capacity(columns * 6 + 1);
        separator.push('|');
        for _ in 0..columns {
            separator.push_str(" --- |");
        }
        lines.push(separator);
        for row in rows {
            lines.push(render_row(&row, columns));
        }
        (caption, lines)
    }
}

fn render_row(cells: &[String], columns: usize) -> String {
    let mut line = String::with_capacity(cells.iter().map(|c| c.len() + 3).sum::<usize>() + 2);
    line.push('|');
    for column in 0..columns {
        let text = cells.get(column).map(String::as_str).unwrap_or("");
        line.push(' ');
        // The writer never puts a newline in a cell; this is a last guard.
        if text.contains('\n') {
            line.push_str(&text.replace('\n', " "));
        } else {
            line.push_str(text);
        }
        line.push_str(" |");
    }
    line
}
