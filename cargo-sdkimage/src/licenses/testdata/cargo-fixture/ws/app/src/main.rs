fn main() { println!("{}", itoa::Buffer::new().format(helper::answer())); }
