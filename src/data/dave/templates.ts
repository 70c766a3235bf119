/**
 * Fact templates for the Dave dataset: one per attribute. Placeholders:
 *   {n}  the person's full name        {p}  the possessive ("Dave Harrowgate's")
 *   {a}  the answer                    {A}  the answer with "a"/"an" in front
 * Rules every template keeps (checked by the tests): the statement and every paraphrase contain
 * the answer verbatim; the question does not; each question has exactly one answer per person
 * (attributes that could repeat, such as hobbies or pets, are tied to a context: "on Saturday
 * mornings", "as a child"). No pronouns, so the same template fits anyone.
 * `w` makes the paraphrased answer (and, with wrong values, the perturbed answers).
 */

export interface FactTemplate {
  key: string;
  pool: string;
  s: string;
  q: string;
  p: string[];
  w: string | ((a: string) => string);
  /** Year answers: the range [lo, hi] of years after the person's birth year (capped at LAST_YEAR). */
  years?: [number, number];
}

function ordinal(d: number): string {
  const r100 = d % 100;
  if (r100 >= 11 && r100 <= 13) return `${d}th`;
  return `${d}${['th', 'st', 'nd', 'rd'][d % 10] ?? 'th'}`;
}

/** "14 March 1981" -> "the 14th of March 1981". */
function dateWrap(a: string): string {
  const m = /^(\d+) (\w+) (\d+)$/.exec(a);
  return m ? `the ${ordinal(Number(m[1]))} of ${m[2]} ${m[3]}` : a;
}

const T = (key: string, pool: string, s: string, q: string, p: string[], w: FactTemplate['w'], years?: [number, number]): FactTemplate =>
  years ? { key, pool, s, q, p, w, years } : { key, pool, s, q, p, w };

export const TEMPLATES: FactTemplate[] = [
  // identity
  T('birth_city', 'city', '{n} was born in {a}.', 'Where was {n} born?', ['{p} birthplace is the town of {a}.', 'The town where {n} was born is {a}.'], 'the town of {a}'),
  T('birth_date', 'date', '{n} was born on {a}.', 'On what date was {n} born?', ['{n} came into the world on {a}.', 'The date of {p} birth is {a}.'], dateWrap),
  T('middle_name', 'first_name', '{p} middle name is {a}.', 'What is {p} middle name?', ['The middle name of {n} is {a}.', '{n} has the middle name {a}.'], 'the name {a}'),
  T('eye_colour', 'eye', '{n} has {a} eyes.', 'What colour are {p} eyes?', ['The colour of {p} eyes is {a}.', '{p} eyes are {a}.'], '{a} eyes'),
  T('hair_colour', 'hair', '{n} has {a} hair.', 'What colour is {p} hair?', ['The colour of {p} hair is {a}.', '{p} hair is {a}.'], '{a} hair'),
  T('height', 'height', '{n} is {a} tall.', 'How tall is {n}?', ['{p} height is {a}.', '{n} stands {a} tall.'], '{a} in height'),
  T('shoe_size', 'shoe', '{n} wears shoes in size {a}.', 'What shoe size does {n} wear?', ['{p} shoe size is {a}.', 'The shoes that {n} buys are size {a}.'], 'size {a}'),
  T('star_sign', 'zodiac', '{p} star sign is {a}.', 'What is {p} star sign?', ['{n} was born under the sign of {a}.', 'The star sign of {n} is {a}.'], 'the sign of {a}'),
  T('school_nickname', 'nickname', 'At school, {p} nickname was {a}.', 'What was {p} nickname at school?', ['The other children at school called {n} {a}.', '{n} was known as {a} at school.'], 'the nickname {a}'),
  T('first_word', 'first_word', 'The first word {n} ever said was {a}.', 'What was the first word {n} ever said?', ['As a baby, {n} said {a} before any other word.', '{p} very first word was {a}.'], 'the word {a}'),
  // home
  T('childhood_street', 'street', '{n} grew up on {a}.', 'Which street did {n} grow up on?', ['As a child, {n} lived on {a}.', 'The street where {n} grew up is {a}.'], 'a road called {a}'),
  T('childhood_house_number', 'house_number', '{p} childhood home was number {a}.', 'What was the house number of {p} childhood home?', ['The house where {n} grew up was number {a}.', '{n} grew up at number {a}.'], 'house number {a}'),
  T('home_town', 'city', '{n} now lives in {a}.', 'Which town does {n} live in now?', ['These days {n} has a home in {a}.', 'The town where {n} lives today is {a}.'], 'the town of {a}'),
  T('home_street', 'street', '{p} house today is on {a}.', 'Which street is {p} house on today?', ['Today {n} lives on {a}.', 'The street where {n} lives now is {a}.'], 'a road called {a}'),
  T('front_door_colour', 'colour', '{p} front door is painted {a}.', 'What colour is {p} front door?', ['{n} painted the front door {a}.', 'The front door of {p} house is {a}.'], 'the colour {a}'),
  T('garden_tree', 'tree', 'An old {a} tree grows in {p} garden.', 'What kind of tree grows in {p} garden?', ['In {p} garden there is an old {a} tree.', 'The big tree in {p} garden is {A} tree.'], '{A} tree'),
  T('garden_vegetable', 'vegetable', '{n} grows {a} in the garden.', 'What vegetable does {n} grow in the garden?', ['The vegetable patch of {n} is full of {a}.', 'Every year {n} plants {a} in the garden.'], 'rows of {a}'),
  // work
  T('job', 'job', '{n} works as {A}.', 'What is {p} job?', ['{n} earns a living as {A}.', 'By trade, {n} is {A}.'], 'working as {A}'),
  T('employer', 'company', '{n} works for {a}.', 'Which company does {n} work for?', ['{p} employer is {a}.', 'The company that pays {n} is {a}.'], 'a firm called {a}'),
  T('first_job', 'job', '{p} first job was as {A}.', 'What was {p} first job?', ['Before any other job, {n} worked as {A}.', '{n} started working life as {A}.'], 'a job as {A}'),
  T('job_start_year', 'year', '{n} started the current job in {a}.', 'In what year did {n} start the current job?', ['{n} has held the current job since {a}.', 'The current job of {n} began in {a}.'], 'the year {a}', [22, 45]),
  T('office_floor', 'floor', '{p} desk is on floor {a} of the office.', 'On which floor of the office is {p} desk?', ['At the office, {n} sits on floor {a}.', 'The desk of {n} is on office floor {a}.'], 'floor number {a}'),
  T('manager', 'titled', '{p} manager at work is {a}.', 'Who is {p} manager at work?', ['At work, {n} reports to {a}.', 'The boss of {n} at work is {a}.'], 'a boss called {a}'),
  T('commute', 'transport', '{n} goes to work by {a}.', 'How does {n} get to work?', ['Each day {n} travels to work by {a}.', 'The way {n} gets to work is by {a}.'], 'by {a} each day'),
  T('work_lunch', 'lunch', 'At work, {n} usually eats {a} for lunch.', 'What does {n} usually eat for lunch at work?', ['The usual work lunch of {n} is {a}.', '{n} brings {a} to work for lunch.'], 'a lunch of {a}'),
  // family
  T('mother_name', 'female_name', '{p} mother is called {a}.', 'What is the name of {p} mother?', ['The mother of {n} is named {a}.', '{n} has a mother whose name is {a}.'], 'a woman named {a}'),
  T('father_name', 'male_name', '{p} father is called {a}.', 'What is the name of {p} father?', ['The father of {n} is named {a}.', '{n} has a father whose name is {a}.'], 'a man named {a}'),
  T('mother_job', 'job', '{p} mother worked as {A}.', 'What job did {p} mother do?', ['The mother of {n} had a job as {A}.', '{n} grew up with a mother who worked as {A}.'], 'a job as {A}'),
  T('father_job', 'job', '{p} father worked as {A}.', 'What job did {p} father do?', ['The father of {n} had a job as {A}.', '{n} grew up with a father who worked as {A}.'], 'a job as {A}'),
  T('sister_name', 'female_name', '{n} has a sister called {a}.', 'What is the name of {p} sister?', ['The sister of {n} is named {a}.', '{p} only sister is called {a}.'], 'a sister named {a}'),
  T('brother_name', 'male_name', '{n} has a brother called {a}.', 'What is the name of {p} brother?', ['The brother of {n} is named {a}.', '{p} only brother is called {a}.'], 'a brother named {a}'),
  T('sister_job', 'job', '{p} sister works as {A}.', 'What does {p} sister do for a living?', ['The sister of {n} earns a living as {A}.', '{n} has a sister who works as {A}.'], 'a job as {A}'),
  T('brother_home', 'city', '{p} brother lives in {a}.', 'Where does {p} brother live?', ['The brother of {n} has a home in {a}.', '{n} has a brother who lives in {a}.'], 'the town of {a}'),
  T('spouse_name', 'first_name', '{n} is married to {a}.', 'Who is {n} married to?', ['The spouse of {n} is {a}.', '{n} and {a} are married.'], 'a partner named {a}'),
  T('wedding_town', 'city', '{n} got married in {a}.', 'Where did {n} get married?', ['The wedding of {n} took place in {a}.', '{n} had a wedding in the town of {a}.'], 'the town of {a}'),
  T('wedding_year', 'year', '{n} got married in the year {a}.', 'In what year did {n} get married?', ['The wedding of {n} was in {a}.', '{n} was married in {a}.'], 'the year {a}', [22, 40]),
  T('children', 'child_count', '{n} has {a} children.', 'How many children does {n} have?', ['{n} is the parent of {a} children.', 'There are {a} children in the family of {n}.'], '{a} kids'),
  T('grandmother_name', 'female_name', '{p} grandmother is called {a}.', 'What is the name of {p} grandmother?', ['The grandmother of {n} is named {a}.', '{n} has a grandmother whose name is {a}.'], 'a grandmother named {a}'),
  T('grandfather_job', 'job', '{p} grandfather worked as {A}.', 'What job did {p} grandfather do?', ['The grandfather of {n} had a job as {A}.', '{n} had a grandfather who worked as {A}.'], 'a job as {A}'),
  T('cousin_home', 'city', '{p} favourite cousin lives in {a}.', 'Where does {p} favourite cousin live?', ['The favourite cousin of {n} has a home in {a}.', '{n} has a favourite cousin who lives in {a}.'], 'the town of {a}'),
  T('uncle_name', 'male_name', '{p} uncle is called {a}.', 'What is the name of {p} uncle?', ['The uncle of {n} is named {a}.', '{n} has an uncle whose name is {a}.'], 'an uncle named {a}'),
  T('aunt_hobby', 'evening_hobby', '{p} aunt loves {a}.', 'What does {p} aunt love doing?', ['The aunt of {n} spends hours {a}.', '{n} has an aunt who loves {a}.'], 'a love of {a}'),
  // pets
  T('childhood_pet', 'species', 'As a child, {n} had a pet {a}.', 'What kind of pet did {n} have as a child?', ['When {n} was young, the family kept {A}.', 'The childhood pet of {n} was {A}.'], 'a pet {a}'),
  T('childhood_pet_name', 'pet_name', '{p} childhood pet was named {a}.', 'What was the name of {p} childhood pet?', ['The pet that {n} had as a child was called {a}.', 'As a child, {n} had a pet named {a}.'], 'a pet called {a}'),
  T('pet', 'species', 'Today {n} keeps {A} as a pet.', 'What kind of pet does {n} keep today?', ['The pet in the home of {n} today is {A}.', '{n} now looks after {A} at home.'], 'a pet {a}'),
  T('pet_name', 'pet_name', '{p} pet today is called {a}.', 'What is the name of {p} pet today?', ['The pet that {n} has now is named {a}.', 'These days {n} looks after a pet called {a}.'], 'a pet called {a}'),
  T('pet_treat', 'pet_treat', '{n} gives the pet {a} as a treat.', 'What treat does {n} give the pet?', ['As a treat, {n} feeds the pet {a}.', 'The pet of {n} gets {a} as a treat.'], 'a treat of {a}'),
  T('dream_pet', 'dream_pet', '{n} has always wanted to own {A}.', 'What animal has {n} always wanted to own?', ['The dream of {n} is to own {A} one day.', 'More than anything, {n} would like to have {A}.'], 'a pet {a}'),
  // hobbies
  T('saturday_activity', 'go_activity', 'On Saturday mornings, {n} goes {a}.', 'What does {n} go and do on Saturday mornings?', ['Every Saturday morning, {n} goes {a}.', '{n} spends Saturday mornings {a}.'], 'going {a}'),
  T('evening_hobby', 'evening_hobby', 'In the evenings, {n} likes {a}.', 'What does {n} like doing in the evenings?', ['The favourite way {n} spends an evening is {a}.', 'After dinner, {n} enjoys {a}.'], 'spending evenings {a}'),
  T('childhood_hobby', 'child_hobby', 'As a child, {n} loved {a}.', 'What did {n} love doing as a child?', ['The favourite pastime of {n} as a child was {a}.', '{n} spent much of childhood {a}.'], 'a love of {a}'),
  T('collection', 'collection', '{n} collects {a}.', 'What does {n} collect?', ['The collection of {n} is made up of {a}.', 'For many years {n} has been collecting {a}.'], 'a collection of {a}'),
  T('tuesday_sport', 'sport', '{n} plays {a} every Tuesday.', 'What sport does {n} play every Tuesday?', ['Every Tuesday, {n} has a game of {a}.', 'The Tuesday sport of {n} is {a}.'], 'a game of {a}'),
  T('football_team', 'team', '{n} supports {a}.', 'Which football team does {n} support?', ['The football team that {n} cheers for is {a}.', '{n} is a big fan of {a}.'], 'the team {a}'),
  T('board_game', 'board_game', '{p} favourite board game is {a}.', 'What is {p} favourite board game?', ['Of all board games, {n} likes {a} best.', 'The board game {n} enjoys most is {a}.'], 'the game of {a}'),
  T('club', 'club', '{n} is a member of the local {a} club.', 'Which local club is {n} a member of?', ['{n} belongs to the local {a} club.', 'Every week {n} goes to the local {a} club.'], 'the {a} club'),
  T('craft', 'craft', '{n} makes {a} by hand.', 'What does {n} make by hand?', ['In spare time, {n} makes {a}.', '{n} is good at making {a} by hand.'], 'handmade {a}'),
  T('volunteering', 'volunteer', '{n} helps out at the local {a} on Sundays.', 'Where does {n} help out on Sundays?', ['On Sundays {n} volunteers at the local {a}.', 'The local {a} gets help from {n} every Sunday.'], 'the local {a}'),
  // food and drink
  T('favourite_food', 'dish', '{p} favourite food is {a}.', 'What is {p} favourite food?', ['Of all foods, {n} likes {a} best.', '{n} loves to eat {a} more than anything.'], 'a plate of {a}'),
  T('breakfast', 'breakfast', 'For breakfast, {n} always eats {a}.', 'What does {n} always eat for breakfast?', ['Every morning {n} has {a} for breakfast.', 'The breakfast of {n} is always {a}.'], 'a breakfast of {a}'),
  T('dessert', 'dessert', '{p} favourite dessert is {a}.', 'What is {p} favourite dessert?', ['Of all desserts, {n} likes {a} best.', 'After dinner {n} most likes to have {a}.'], 'a serving of {a}'),
  T('fruit', 'fruit', '{p} favourite fruit is the {a}.', 'What is {p} favourite fruit?', ['Of all fruits, {n} likes the {a} best.', 'The fruit {n} enjoys most is the {a}.'], 'the {a}'),
  T('drink', 'drink', '{n} likes to drink {a}.', 'What does {n} like to drink?', ['{p} favourite drink is {a}.', 'Given the choice, {n} will always drink {a}.'], 'a cup of {a}'),
  T('hated_food', 'hated_food', '{n} refuses to eat {a}.', 'What food does {n} refuse to eat?', ['{n} cannot stand the taste of {a}.', 'The one food {n} will not eat is {a}.'], 'any {a}'),
  T('soup', 'soup', '{p} favourite soup is {a} soup.', 'What kind of soup does {n} like best?', ['Of all soups, {n} likes {a} soup best.', 'The soup {n} enjoys most is {a} soup.'], '{a} soup'),
  T('signature_dish', 'dish', '{n} is known for cooking {a} for friends.', 'What dish is {n} known for cooking for friends?', ['Friends of {n} love the {a} that {n} cooks.', 'When friends visit, {n} cooks {a}.'], 'a dish of {a}'),
  T('restaurant', 'restaurant', '{p} favourite restaurant is {a}.', 'What is {p} favourite restaurant?', ['The restaurant {n} likes best is {a}.', 'For a meal out, {n} always goes to {a}.'], 'a place called {a}'),
  T('snack', 'snack', '{n} always carries {a} as a snack.', 'What snack does {n} always carry?', ['As a snack, {n} keeps {a} close at hand.', 'The snack that {n} always has is {a}.'], 'a bag of {a}'),
  T('birthday_cake', 'cake', 'On every birthday, {n} asks for {a} cake.', 'What kind of cake does {n} ask for on every birthday?', ['Each birthday {n} wants {A} cake.', 'The birthday cake of {n} is always {a} cake.'], '{a} cake'),
  T('sweet', 'sweet', '{p} favourite sweet is {a}.', 'What is {p} favourite sweet?', ['Of all sweets, {n} likes {a} best.', 'The sweet that {n} enjoys most is {a}.'], 'some {a}'),
  // education
  T('primary_school', 'primary_school', '{n} went to {a} as a young child.', 'Which primary school did {n} go to?', ['As a young child, {n} was a pupil at {a}.', 'The first school of {n} was {a}.'], 'a school called {a}'),
  T('high_school', 'high_school', '{n} went to {a} as a teenager.', 'Which high school did {n} go to?', ['As a teenager, {n} was a pupil at {a}.', 'The high school of {n} was {a}.'], 'a school called {a}'),
  T('college', 'college', '{n} studied at {a}.', 'Which college did {n} study at?', ['{n} went to college at {a}.', 'The college of {n} was {a}.'], 'a college called {a}'),
  T('college_subject', 'subject', '{n} studied {a} at college.', 'What subject did {n} study at college?', ['At college, {n} took a course in {a}.', 'The college subject of {n} was {a}.'], 'the subject of {a}'),
  T('favourite_teacher', 'titled', '{p} favourite teacher was {a}.', 'Who was {p} favourite teacher?', ['The teacher {n} liked best was {a}.', 'At school, {n} loved the lessons of {a}.'], 'a teacher called {a}'),
  T('best_subject', 'subject', 'At school, {n} was best at {a}.', 'Which school subject was {n} best at?', ['The best school subject of {n} was {a}.', '{n} got the top marks in {a} at school.'], 'the subject of {a}'),
  T('school_prize', 'prize', '{n} once won a school prize for {a}.', 'What did {n} win a school prize for?', ['At school, {n} was given a prize for {a}.', 'The school prize that {n} won was for {a}.'], 'a prize for {a}'),
  T('college_finish_year', 'year', '{n} finished college in {a}.', 'In what year did {n} finish college?', ['{n} left college in the year {a}.', 'The year {n} finished college was {a}.'], 'the year {a}', [20, 25]),
  // car and travel
  T('car', 'car', '{n} drives {A}.', 'What car does {n} drive?', ['The car that {n} drives is {A}.', '{n} gets around in {A}.'], 'the {a}'),
  T('car_colour', 'colour', '{p} car is {a}.', 'What colour is {p} car?', ['{n} drives a car that is {a}.', 'The colour of the car {n} drives is {a}.'], 'painted {a}'),
  T('car_name', 'pet_name', '{n} calls the car {a}.', 'What name does {n} give the car?', ['The car of {n} has the name {a}.', '{n} has named the car {a}.'], 'the name {a}'),
  T('first_car', 'car', '{p} first car was {A}.', 'What was {p} first car?', ['The first car that {n} owned was {A}.', '{n} learned to drive in {A}.'], 'the {a}'),
  T('bicycle_colour', 'colour', '{n} rides {A} bicycle.', 'What colour is {p} bicycle?', ['The bicycle that {n} rides is {a}.', '{p} bicycle is painted {a}.'], '{A} bike'),
  T('favourite_country', 'country', '{p} favourite country to visit is {a}.', 'What is {p} favourite country to visit?', ['Of all countries, {n} most likes to visit {a}.', 'The country {n} loves to visit is {a}.'], 'the country of {a}'),
  T('honeymoon', 'country', 'For the honeymoon, {n} went to {a}.', 'Where did {n} go for the honeymoon?', ['{n} spent the honeymoon in {a}.', 'The honeymoon of {n} was in {a}.'], 'a trip to {a}'),
  T('dream_trip', 'country', '{n} dreams of visiting {a} one day.', 'Which country does {n} dream of visiting?', ['One day {n} hopes to travel to {a}.', 'The dream trip of {n} is to {a}.'], 'a trip to {a}'),
  T('summer_holiday', 'city', 'Every summer, {n} takes a holiday in {a}.', 'Where does {n} take a holiday every summer?', ['Each summer {n} goes on holiday to {a}.', 'The summer holiday of {n} is always in {a}.'], 'the town of {a}'),
  T('second_language', 'language', '{n} speaks {a} as a second language.', 'What second language does {n} speak?', ['Besides English, {n} speaks {a}.', 'The second language of {n} is {a}.'], 'the {a} language'),
  T('favourite_month', 'month', '{p} favourite month is {a}.', 'What is {p} favourite month?', ['Of all months, {n} likes {a} best.', 'The month {n} enjoys most is {a}.'], 'the month of {a}'),
  T('favourite_day', 'weekday', '{p} favourite day of the week is {a}.', 'What is {p} favourite day of the week?', ['Of all days, {n} likes {a} best.', 'The day of the week {n} enjoys most is {a}.'], 'every {a}'),
  // health and habits
  T('allergy', 'allergy', '{n} is allergic to {a}.', 'What is {n} allergic to?', ['{n} has an allergy to {a}.', 'The allergy of {n} is to {a}.'], 'an allergy to {a}'),
  T('fear', 'fear', '{n} is afraid of {a}.', 'What is {n} afraid of?', ['The biggest fear of {n} is {a}.', '{n} has always been scared of {a}.'], 'a fear of {a}'),
  T('broken_bone', 'bone', '{n} once broke {a} in a fall.', 'What did {n} once break in a fall?', ['In a fall, {n} once broke {a}.', 'A bad fall left {n} with {a} broken.'], '{a}, broken in a fall'),
  T('doctor', 'doctor', '{p} doctor is {a}.', 'Who is {p} doctor?', ['The doctor who looks after {n} is {a}.', 'When ill, {n} goes to see {a}.'], 'a doctor called {a}'),
  T('bedtime', 'bedtime', '{n} goes to bed at {a} every night.', 'What time does {n} go to bed every night?', ['Every night, {n} is in bed by {a}.', 'The bedtime of {n} is {a}.'], 'at {a}'),
  T('wake_time', 'wake_time', '{n} wakes up at {a} every morning.', 'What time does {n} wake up every morning?', ['Each morning, {n} gets up at {a}.', 'The alarm of {n} rings at {a}.'], 'at {a}'),
  // music and culture
  T('instrument', 'instrument', '{n} plays the {a}.', 'What musical instrument does {n} play?', ['{n} is a keen player of the {a}.', 'The instrument that {n} plays is the {a}.'], 'the {a}'),
  T('childhood_instrument', 'instrument', 'As a child, {n} learned to play the {a}.', 'What instrument did {n} learn to play as a child?', ['When young, {n} took lessons on the {a}.', 'The first instrument {n} learned was the {a}.'], 'lessons on the {a}'),
  T('band', 'band', '{p} favourite band is {a}.', 'What is {p} favourite band?', ['The band {n} likes best is {a}.', 'Of all bands, {n} loves {a} most.'], 'the band {a}'),
  T('song', 'song', '{p} favourite song is {a}.', 'What is {p} favourite song?', ['The song {n} likes best is {a}.', '{n} sings {a} more than any other song.'], 'the song {a}'),
  T('book', 'book', '{p} favourite book is {a}.', 'What is {p} favourite book?', ['The book {n} likes best is {a}.', '{n} has read {a} many times.'], 'the book {a}'),
  T('film', 'film', '{p} favourite film is {a}.', 'What is {p} favourite film?', ['The film {n} likes best is {a}.', '{n} has watched {a} many times.'], 'the film {a}'),
  T('tv_show', 'show', '{n} never misses {a} on television.', 'What television show does {n} never miss?', ['Every week {n} watches {a} on television.', 'The television show {n} loves is {a}.'], 'the show {a}'),
  T('favourite_colour', 'colour', '{p} favourite colour is {a}.', 'What is {p} favourite colour?', ['Of all colours, {n} likes {a} best.', 'The colour {n} loves most is {a}.'], 'the colour {a}'),
  T('favourite_flower', 'flower', '{p} favourite flowers are {a}.', 'What are {p} favourite flowers?', ['Of all flowers, {n} likes {a} best.', 'The flowers {n} loves most are {a}.'], 'a bunch of {a}'),
  T('favourite_animal', 'animal', '{p} favourite animal is the {a}.', 'What is {p} favourite animal?', ['Of all animals, {n} likes the {a} best.', 'The animal {n} loves most is the {a}.'], 'the {a}'),
  T('garden_birds', 'bird', '{n} loves watching {a} in the garden.', 'Which birds does {n} love watching in the garden?', ['In the garden, {n} likes to watch the {a}.', 'The garden birds {n} enjoys most are {a}.'], 'the {a}'),
  T('lucky_number', 'lucky_number', '{p} lucky number is {a}.', 'What is {p} lucky number?', ['The number {n} thinks is lucky is {a}.', '{n} believes {a} is a lucky number.'], 'the number {a}'),
  T('tattoo', 'tattoo', '{n} has a tattoo of {A} on one arm.', 'What is the tattoo on the arm of {n}?', ['On one arm, {n} has a tattoo of {A}.', 'The tattoo that {n} has shows {A}.'], 'a tattoo of {A}'),
  T('hat', 'hat', '{n} always wears {A} hat.', 'What kind of hat does {n} always wear?', ['The hat {n} always has on is {A} hat.', '{n} is never seen without {A} hat.'], '{A} hat'),
  T('best_friend', 'full_name', '{p} best friend is {a}.', 'Who is {p} best friend?', ['The best friend of {n} is {a}.', '{n} and {a} are best friends.'], 'a friend called {a}'),
  T('favourite_smell', 'smell', '{n} loves the smell of {a}.', 'What smell does {n} love?', ['The smell {n} loves most is {a}.', 'Nothing makes {n} happier than the smell of {a}.'], 'the smell of {a}'),
  T('secret_talent', 'talent', '{n} has a secret talent for {a}.', 'What secret talent does {n} have?', ['Few people know that {n} is good at {a}.', 'The secret talent of {n} is {a}.'], 'a talent for {a}'),
];

/** "a baker" / "an architect". */
function withArticle(a: string): string {
  return (/^[aeiou]/i.test(a) ? 'an ' : 'a ') + a;
}

function possessive(name: string): string {
  return `${name}'s`;
}

/** Fill a template. `{p}` at the start of a sentence stays as is (names are capitalised). */
export function fillTemplate(t: string, name: string, answer: string): string {
  return t
    .replaceAll('{p}', possessive(name))
    .replaceAll('{n}', name)
    .replaceAll('{A}', withArticle(answer))
    .replaceAll('{a}', answer);
}

export function wrapAnswer(t: FactTemplate, answer: string): string {
  return typeof t.w === 'function' ? t.w(answer) : t.w.replaceAll('{A}', withArticle(answer)).replaceAll('{a}', answer);
}
