fn main() {
    println!("credledger");
}
