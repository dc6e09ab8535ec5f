//go:build ignore

// gen_common_passwords writes common-passwords.txt. Run from this directory:
//
//	go run gen_common_passwords.go
//
// No breach corpus could be downloaded where this was written, so the list
// is synthesised: a hand-typed set of passwords that top published "most
// common passwords" lists (written from memory, not copied from a file),
// keyboard walks and digit runs, and those roots combined with the suffixes
// people add to satisfy composition rules (digits, years, "!"), plus
// season/month + year patterns in English, French, German, Italian and
// Spanish. It is a reasonable stand-in, not a frequency-ranked list; replace
// it with a real one (e.g. the top entries of a published corpus) when one
// is available. Entries are lower-case; the check is case-insensitive.
package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
)

var wellKnown = strings.Fields(`
123456 123456789 12345678 12345 1234567 1234567890 123123 000000 111111 123321
654321 666666 121212 112233 987654321 11111111 88888888 12341234 11223344 147258369
password password1 password12 password123 password! passw0rd p@ssword p@ssw0rd pa55word
pa$$word passwort motdepasse contrasena contraseña parola wachtwoord senha haslo
qwerty qwerty123 qwertyuiop qwerty1 1q2w3e4r 1q2w3e4r5t 1qaz2wsx zaq12wsx zaq1zaq1
azerty azerty123 azertyuiop qwertz qwertz123 asdfghjkl asdfgh zxcvbnm 1qazxsw2
iloveyou iloveu admin admin123 administrator letmein welcome welcome1 monkey dragon
football baseball basketball soccer hockey master shadow sunshine princess superman
batman spiderman trustno1 michael jennifer jordan jordan23 hunter ranger buster
harley killer george charlie andrew michelle jessica pepper daniel access joshua
maggie starwars silver william dallas yankees hello amanda orange freedom computer
thunder nicole ginger heather hammer summer corvette taylor austin matthew merlin
thomas secret diamond cheese flower whatever cookie chocolate butterfly liverpool
chelsea arsenal barcelona realmadrid juventus lovely babygirl ashley tigger purple
angel abc123 abcd1234 abcdef abcdefg abcdefgh pokemon naruto samsung apple google
facebook linkedin login changeme default root toor test test123 testing guest user
secret123 mustang access14 696969 batman1 blink182 chicken cowboy cowboys eagles
falcon ferrari fishing golfer hannah jackson jasmine jennifer1 killer1 lakers
lauren london marina martin matrix mercedes midnight money monster nascar newyork
patrick peanut phoenix qazwsx rachel robert rocket sophie steelers sparky sunshine1
superstar swordfish tennis tiger toyota unicorn victoria viking winter zxcvbn
zxcvbnm1 letmein1 welcome123 iloveyou1 princess1 monkey1 dragon1 football1
charlie1 shadow1 master1 superman1 michael1 bailey buddy coffee dolphin family
friends gemini internet jesus jordan1 justin lovers loveme mickey minecraft
nothing peaches pepper1 pookie qwer1234 richard samantha scooter snoopy starwars1
student summer1 sweety teacher thomas1 trinity welcome2 hello123 hellokitty
bonjour soleil chouchou doudou loulou nicolas camille chocolat marseille paris
geneve geneva lausanne zurich suisse schweiz hallo schatz fussball sommer
hospital hopital doctor docteur medecin nurse infirmier infirmiere patient sante
health healthcare medical clinic clinique consultation teleconsultation hcwathome
hcw@home hcwhome covid covid19 corona pandemic vaccine
`)

// roots are combined with suffixes below.
var roots = strings.Fields(`
password passw0rd p@ssword p@ssw0rd pass qwerty azerty qwertz admin administrator
welcome letmein iloveyou monkey dragon football baseball soccer hockey master
shadow sunshine princess superman batman michael jennifer jordan hunter ranger
buster harley killer george charlie andrew michelle jessica pepper daniel joshua
maggie starwars silver william dallas yankees hello amanda orange freedom computer
thunder nicole ginger heather hammer summer winter spring autumn taylor austin
matthew merlin thomas secret diamond cheese flower whatever cookie chocolate
butterfly liverpool chelsea arsenal lovely babygirl ashley tigger purple angel
pokemon naruto samsung apple google facebook login changeme default root test
guest user mustang chicken cowboy falcon ferrari jackson jasmine lauren london
marina martin matrix mercedes midnight money monster phoenix rachel robert rocket
sophie tennis tiger toyota unicorn victoria viking bailey buddy coffee dolphin
family friends internet jesus justin loveme mickey minecraft peaches richard
samantha scooter snoopy student teacher trinity motdepasse bonjour soleil
chouchou doudou nicolas camille chocolat marseille paris geneve geneva lausanne
zurich suisse schweiz hallo passwort schatz fussball sommer hospital hopital
doctor docteur medecin nurse infirmier infirmiere patient sante health medical
clinic clinique hcwathome hcw covid abc qwe asd zxc love
`)

var suffixes = func() []string {
	s := strings.Fields(`1 12 123 1234 12345 123456 ! 1! 12! 123! 1234! !! @ @1 @123 # #1
		01 02 07 10 11 13 21 22 23 69 77 88 99 00 007 111 000 2 3 4 5 6 7 8 9 .
		_1 _123 *`)
	s = append(s, "")
	for y := 1960; y <= 2030; y++ {
		s = append(s, fmt.Sprint(y), fmt.Sprint(y)+"!")
	}
	for y := 0; y <= 30; y++ {
		s = append(s, fmt.Sprintf("%02d!", y))
	}
	return s
}()

var seasons = strings.Fields(`spring summer autumn fall winter printemps ete été automne hiver
	fruhling frühling sommer herbst primavera estate autunno inverno verano otono otoño invierno
	january february march april may june july august september october november december
	janvier fevrier février mars avril mai juin juillet aout août septembre octobre novembre decembre décembre`)

// walks are keyboard rows and runs typed on QWERTY, AZERTY and QWERTZ.
var walks = strings.Fields(`qwertyuiop asdfghjkl zxcvbnm azertyuiop qsdfghjklm wxcvbn
	qwertzuiop yxcvbnm 1234567890 0987654321 qazwsxedc qazwsxedcrfv 1qaz2wsx3edc
	1qaz2wsx3edc4rfv zaq1xsw2cde3 !qaz@wsx 1q2w3e4r5t6y 1q2w3e4r5t6y7u8i 1a2s3d4f
	q1w2e3r4 q1w2e3r4t5 a1b2c3d4 abc12345 abcd12345 qweasdzxc qweasd123 asdzxc123
	poiuytreza mnbvcxz lkjhgfdsa !@#$%^&* !@#$%^&*() 1qaz!qaz 2wsx@wsx 1q2w3e 1q2w3e4r5
	qweqweqwe asdasdasd zxczxczxc qwerasdf qwerasdfzxcv asdfasdf qwerqwer zxcvzxcv`)

func main() {
	set := map[string]bool{}
	add := func(s string) {
		s = strings.ToLower(s)
		if s != "" && !strings.ContainsAny(s, " \t\n#") {
			set[s] = true
		}
	}
	for _, w := range wellKnown {
		add(w)
	}
	for _, w := range walks {
		add(w)
		for _, sfx := range []string{"1", "12", "123", "!", "1!"} {
			add(w + sfx)
		}
	}
	for _, r := range roots {
		for _, sfx := range suffixes {
			add(r + sfx)
		}
		add(r + r)
		add("my" + r)
		add("i" + "love" + r)
	}
	for _, s := range seasons {
		for y := 2000; y <= 2030; y++ {
			add(fmt.Sprintf("%s%d", s, y))
			add(fmt.Sprintf("%s%d!", s, y))
			add(fmt.Sprintf("%s%02d", s, y%100))
			add(fmt.Sprintf("%s@%d", s, y))
		}
	}
	// Digit and letter runs: 8 to 16 repeats of one character, and ascending
	// and descending digit runs of 8 to 12 from every start.
	for _, c := range "0123456789abcdefghijklmnopqrstuvwxyz" {
		for n := 6; n <= 16; n++ {
			add(strings.Repeat(string(c), n))
		}
	}
	const digits = "012345678901234567890123"
	for start := 0; start < 10; start++ {
		for n := 6; n <= 12; n++ {
			run := digits[start : start+n]
			add(run)
			add(reverse(run))
		}
	}
	list := make([]string, 0, len(set))
	for w := range set {
		list = append(list, w)
	}
	slices.Sort(list)
	var b strings.Builder
	b.WriteString(`# Common passwords refused by the password policy (package account).
# Synthesised by gen_common_passwords.go, not taken from a breach corpus:
# well-known top passwords typed from memory, keyboard walks, digit runs,
# and common roots with the digit/year/"!" suffixes people add, plus
# season/month + year patterns. See the generator's doc comment.
# One lower-case entry per line; lines starting with # are comments.
`)
	for _, w := range list {
		b.WriteString(w)
		b.WriteByte('\n')
	}
	if err := os.WriteFile("common-passwords.txt", []byte(b.String()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(len(list), "entries")
}

func reverse(s string) string {
	r := []rune(s)
	slices.Reverse(r)
	return string(r)
}
