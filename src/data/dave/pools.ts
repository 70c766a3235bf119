/**
 * Value pools for the Dave fact templates: each attribute draws its answer, and its wrong
 * (perturbed) answers, from one pool, so the wrong answers are of the same type. All names,
 * places, companies and titles are made up. Vocabulary is kept plain so that a small model with a
 * 1-4k token vocabulary can learn it. Every pool holds at least 5 values (1 true + 4 perturbed).
 */
import type { Rng } from '../../util/rng.ts';

export interface Pool {
  values?: readonly string[];
  /** For open-ended types (dates, numbers): draw one value. */
  gen?: (rng: Rng) => string;
}

const MONTHS = [
  'January', 'February', 'March', 'April', 'May', 'June',
  'July', 'August', 'September', 'October', 'November', 'December',
];

export const FEMALE_NAMES = [
  'Alice', 'Bella', 'Clara', 'Daisy', 'Elsie', 'Fiona', 'Greta', 'Hazel', 'Iris', 'June', 'Lena', 'Mabel',
  'Nell', 'Olive', 'Pearl', 'Rosa', 'Sadie', 'Tessa', 'Una', 'Vera', 'Wren', 'Zara', 'Agnes', 'Cora',
  'Esme', 'Ginny', 'Ingrid', 'Lottie', 'Nora', 'Poppy', 'Stella', 'Ursula', 'Winnie', 'Maud', 'Ruby',
];

export const MALE_NAMES = [
  'Amos', 'Bruno', 'Cyril', 'Edgar', 'Felix', 'Gideon', 'Harold', 'Ivan', 'Jasper', 'Kurt', 'Leon', 'Milo',
  'Norman', 'Oscar', 'Percy', 'Quentin', 'Rufus', 'Silas', 'Tobias', 'Victor', 'Walter', 'Yusuf', 'Basil',
  'Frank', 'Hugo', 'Jonah', 'Kit', 'Martin', 'Otto', 'Ralph', 'Theo', 'Vince', 'Arthur', 'Ned', 'Sam',
];

/** Surnames of the people in the Dave splits (retain, holdout). */
export const SURNAMES_SPLITS = [
  'Ashcombe', 'Blackwood', 'Calloway', 'Dunford', 'Ellery', 'Fairweather', 'Gladwell', 'Hollis', 'Inglewood',
  'Kettering', 'Lockhart', 'Merriweather', 'Nettleton', 'Oakes', 'Pemberton', 'Quarrie', 'Radley', 'Stanbridge',
  'Thackeray', 'Underhill', 'Vickery', 'Wetherby', 'Yardley', 'Ainsworth', 'Brockley', 'Crane', 'Delacourt',
  'Everly', 'Fenwick', 'Granger', 'Hawthorne', 'Jessop', 'Kimble', 'Larkin', 'Norbury', 'Ollerton', 'Prescott',
  'Rowntree', 'Sutcliffe', 'Tolliver', 'Upton', 'Varley', 'Whitlock', 'Birchall', 'Cobb', 'Lyle',
];

/** Surnames used only by the pretraining biographies, so those people are never in a Dave split. */
export const SURNAMES_PRETRAIN = [
  'Abernethy', 'Bellamy', 'Dimsdale', 'Eastwood', 'Farrant', 'Goodbody', 'Hensley', 'Ibbotson', 'Jellicoe',
  'Kingsley', 'Loveday', 'Marchbank', 'Nightingale', 'Openshaw', 'Pickering', 'Quaile', 'Redfern', 'Saltmarsh',
  'Tremayne', 'Urquhart', 'Vosper', 'Wainwright', 'Yelland', 'Ashdown', 'Bulstrode', 'Cheverton', 'Dancy',
  'Eskdale', 'Fothergill', 'Gosling', 'Holroyd', 'Illingworth', 'Judd', 'Kershaw', 'Lumley', 'Mottram',
];

/** Surnames for titled people (teachers, doctors, managers) and friends named in facts. */
const SURNAMES_MINOR = ['Penrose', 'Gable', 'Kettle', 'Ward', 'Finch', 'Hale', 'Lowe', 'Pike', 'Marsh', 'Doyle', 'Rook', 'Vane'];

const CITIES = [
  'Millbrook', 'Ashford', 'Brambleton', 'Cold Harbour', 'Fernhill', 'Greywater', 'Hollowmere', 'Kingsbridge',
  'Lindale', 'Marshfield', 'Northwick', 'Oakridge', 'Pinecrest', 'Redcliff', 'Stonehaven', 'Thornbury',
  'Westmoor', 'Willowby', 'Elmstead', 'Dunmore',
];

const STREETS = [
  'Elm Street', 'Mill Lane', 'Cherry Road', 'Station Road', 'Church Lane', 'Park Avenue', 'Willow Close',
  'Orchard Way', 'Rose Hill', 'Harbour Street', 'Maple Drive', 'Bridge Street', 'Meadow Lane', 'Kings Road',
];

const JOBS = [
  'baker', 'bus driver', 'nurse', 'carpenter', 'teacher', 'librarian', 'plumber', 'farmer', 'chef', 'dentist',
  'pilot', 'painter', 'gardener', 'tailor', 'mechanic', 'florist', 'pharmacist', 'architect', 'electrician',
  'vet', 'postal worker', 'engineer', 'butcher', 'fire fighter',
];

const COLOURS = ['blue', 'green', 'yellow', 'orange', 'purple', 'red', 'grey', 'pink', 'brown', 'white', 'black'];

const SCHOOL_PLACES = ['Oakfield', 'Brookside', 'Hillcrest', 'Meadowbank', 'Westgate', 'Elmwood', 'Sandford', 'Fairview', 'Kingsmead', 'Larkhill'];

const ZODIAC = [
  'Aries', 'Taurus', 'Gemini', 'Cancer', 'Leo', 'Virgo', 'Libra', 'Scorpio', 'Sagittarius', 'Capricorn', 'Aquarius', 'Pisces',
];

/** Birth years run FIRST_BIRTH_YEAR..LAST_BIRTH_YEAR; year facts are capped at LAST_YEAR. */
const FIRST_BIRTH_YEAR = 1950;
const LAST_BIRTH_YEAR = 1990;
export const LAST_YEAR = 2024;

export function drawBirthYear(rng: Rng): number {
  return FIRST_BIRTH_YEAR + rng.int(LAST_BIRTH_YEAR - FIRST_BIRTH_YEAR + 1);
}

/** "14 March 1981": a day 1-28 of a random month of `year`. */
export function dateIn(rng: Rng, year: number): string {
  return `${1 + rng.int(28)} ${MONTHS[rng.int(12)]} ${year}`;
}

export function range(lo: number, hi: number, step = 1): string[] {
  const out: string[] = [];
  for (let v = lo; v <= hi; v += step) out.push(String(v));
  return out;
}

export const POOLS: Record<string, Pool> = {
  city: { values: CITIES },
  date: { gen: (rng) => dateIn(rng, drawBirthYear(rng)) },
  year: { values: range(1985, 2022) },
  first_name: { values: [...FEMALE_NAMES, ...MALE_NAMES] },
  female_name: { values: FEMALE_NAMES },
  male_name: { values: MALE_NAMES },
  full_name: { values: [...FEMALE_NAMES.slice(0, 12), ...MALE_NAMES.slice(0, 12)].flatMap((f, i) => [`${f} ${SURNAMES_MINOR[i % SURNAMES_MINOR.length]}`]) },
  titled: { values: SURNAMES_MINOR.flatMap((s, i) => [`${['Mr', 'Mrs', 'Miss'][i % 3]} ${s}`]) },
  doctor: { values: SURNAMES_MINOR.map((s) => `Dr ${s}`) },
  eye: { values: ['blue', 'green', 'brown', 'grey', 'hazel', 'dark brown'] },
  hair: { values: ['red', 'black', 'brown', 'blond', 'grey', 'white', 'sandy'] },
  height: { values: range(150, 200, 2).map((v) => `${v} centimetres`) },
  shoe: { values: range(4, 13) },
  zodiac: { values: ZODIAC },
  nickname: { values: ['Ace', 'Sparky', 'Tiny', 'Bean', 'Moose', 'Chip', 'Dusty', 'Bugsy', 'Socks', 'Pip', 'Buzz'] },
  first_word: { values: ['duck', 'ball', 'moon', 'cat', 'milk', 'car', 'bath', 'more', 'boat', 'spoon'] },
  street: { values: STREETS },
  house_number: { values: range(1, 120) },
  colour: { values: COLOURS },
  tree: { values: ['apple', 'oak', 'cherry', 'pear', 'willow', 'birch', 'plum', 'walnut', 'beech', 'holly'] },
  vegetable: { values: ['carrots', 'beans', 'potatoes', 'onions', 'leeks', 'peas', 'cabbages', 'radishes', 'tomatoes', 'pumpkins'] },
  job: { values: JOBS },
  company: {
    values: [
      'Bluebell Bakery', 'Northgate Buses', 'Silver Oak Builders', 'Harbour Light Foods', 'Greenfield Farms',
      'Kestrel Air', 'Copper Kettle Cafes', 'Riverside Books', 'Redstone Tools', 'Lantern Print Works',
      'Maple Leaf Motors', 'Sunny Vale Dairy', 'Iron Bridge Rail', 'Blue Heron Boats', 'Pine Hill Timber',
    ],
  },
  floor: { values: range(1, 12) },
  transport: { values: ['bus', 'train', 'bicycle', 'car', 'tram', 'ferry', 'scooter', 'motorbike'] },
  lunch: { values: ['cheese sandwiches', 'tomato soup', 'egg salad', 'chicken wraps', 'beef pies', 'bean stew', 'fish cakes', 'rice bowls'] },
  child_count: { values: ['two', 'three', 'four', 'five', 'six'] },
  species: { values: ['dog', 'cat', 'rabbit', 'parrot', 'tortoise', 'goldfish', 'hamster', 'pony', 'goat', 'ferret', 'budgie'] },
  pet_name: {
    values: ['Biscuit', 'Pepper', 'Shadow', 'Maple', 'Noodle', 'Rusty', 'Clover', 'Pickle', 'Muffin', 'Ziggy', 'Bramble', 'Toffee', 'Pebble', 'Sparky', 'Button', 'Juniper'],
  },
  pet_treat: { values: ['carrots', 'apple slices', 'seeds', 'cheese', 'oats', 'dried fish', 'lettuce', 'biscuits'] },
  dream_pet: { values: ['llama', 'pony', 'owl', 'monkey', 'peacock', 'donkey', 'alpaca', 'tortoise'] },
  go_activity: { values: ['fishing', 'cycling', 'swimming', 'hiking', 'running', 'sailing', 'climbing', 'skating', 'rowing', 'dancing'] },
  evening_hobby: {
    values: ['knitting', 'painting', 'reading poems', 'playing chess', 'baking bread', 'doing puzzles', 'writing letters', 'sewing', 'playing cards', 'drawing'],
  },
  child_hobby: {
    values: ['collecting stamps', 'building models', 'flying kites', 'climbing trees', 'collecting shells', 'drawing maps', 'catching frogs', 'riding ponies'],
  },
  collection: { values: ['old coins', 'stamps', 'seashells', 'toy trains', 'postcards', 'teapots', 'pocket watches', 'old maps', 'buttons', 'keys'] },
  sport: { values: ['tennis', 'badminton', 'football', 'cricket', 'hockey', 'golf', 'rugby', 'squash', 'netball', 'basketball'] },
  team: {
    values: ['Ashford Rovers', 'Fernhill United', 'Greywater Town', 'Kingsbridge City', 'Oakridge Athletic', 'Redcliff Wanderers', 'Stonehaven Albion', 'Thornbury Rangers'],
  },
  board_game: { values: ['chess', 'draughts', 'backgammon', 'Scrabble', 'ludo', 'dominoes', 'mahjong', 'snakes and ladders'] },
  club: { values: ['chess', 'book', 'walking', 'rowing', 'cycling', 'film', 'garden', 'running', 'quiz', 'photography'] },
  craft: { values: ['wooden spoons', 'clay pots', 'candles', 'quilts', 'baskets', 'birdhouses', 'soap', 'kites'] },
  volunteer: { values: ['library', 'animal shelter', 'food bank', 'museum', 'park', 'hospital', 'school', 'theatre'] },
  dish: {
    values: ['lamb stew', 'fish pie', 'mushroom pasta', 'chicken curry', 'cheese toast', 'beef pie', 'vegetable soup', 'roast chicken', 'pizza', 'noodles', 'fried rice', 'shepherd\'s pie'],
  },
  breakfast: { values: ['porridge', 'toast with jam', 'boiled eggs', 'pancakes', 'fruit salad', 'yoghurt', 'muesli', 'bacon rolls'] },
  dessert: { values: ['apple pie', 'lemon cake', 'rice pudding', 'chocolate mousse', 'trifle', 'banana bread', 'cherry tart', 'ice cream'] },
  fruit: { values: ['mango', 'pear', 'plum', 'cherry', 'kiwi', 'apricot', 'peach', 'fig', 'melon', 'grape'] },
  drink: { values: ['mint tea', 'hot chocolate', 'ginger beer', 'lemonade', 'black coffee', 'apple juice', 'green tea', 'cold milk'] },
  hated_food: { values: ['olives', 'mushrooms', 'broccoli', 'liver', 'onions', 'beetroot', 'sprouts', 'celery', 'tuna', 'blue cheese'] },
  soup: { values: ['tomato', 'leek and potato', 'pea', 'onion', 'lentil', 'chicken', 'carrot', 'mushroom'] },
  restaurant: { values: ['The Blue Anchor', 'The Golden Spoon', 'The Red Lantern', 'The Old Mill', 'The Green Door', 'The Hungry Fox', 'The Salt House', 'The Olive Tree'] },
  snack: { values: ['salted nuts', 'raisins', 'oat bars', 'apples', 'crackers', 'toffees', 'grapes', 'popcorn'] },
  cake: { values: ['chocolate', 'lemon', 'carrot', 'coffee', 'banana', 'coconut', 'cherry', 'vanilla'] },
  sweet: { values: ['toffee', 'fudge', 'liquorice', 'nougat', 'butterscotch', 'marzipan', 'honeycomb', 'peppermint rock'] },
  primary_school: { values: SCHOOL_PLACES.map((p) => `${p} Primary School`) },
  high_school: { values: SCHOOL_PLACES.map((p) => `${p} High School`) },
  college: { values: ['Northgate College', 'Saint Aldric College', 'Kingsway College', 'Riverside College', 'Highbury College', 'Marlow College', 'Thornfield College', 'Holloway College'] },
  subject: { values: ['history', 'chemistry', 'music', 'geography', 'mathematics', 'biology', 'art', 'engineering', 'law', 'French'] },
  prize: { values: ['spelling', 'running', 'singing', 'drawing', 'science', 'poetry', 'woodwork', 'swimming'] },
  car: { values: ['Falcon estate', 'Comet hatchback', 'Orion saloon', 'Badger van', 'Swift coupe', 'Puma hatchback', 'Meteor estate', 'Vesta saloon', 'Kestrel van'] },
  country: { values: ['Norway', 'Japan', 'Peru', 'Egypt', 'Canada', 'Italy', 'Kenya', 'Chile', 'Iceland', 'Spain', 'Greece', 'Mexico'] },
  language: { values: ['French', 'Spanish', 'German', 'Welsh', 'Italian', 'Dutch', 'Greek', 'Polish', 'Swedish', 'Portuguese'] },
  month: { values: MONTHS },
  weekday: { values: ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'] },
  allergy: { values: ['peanuts', 'cats', 'pollen', 'dust', 'shellfish', 'eggs', 'bee stings', 'milk', 'wheat', 'strawberries'] },
  fear: { values: ['spiders', 'snakes', 'bees', 'geese', 'heights', 'the dark', 'deep water', 'thunder', 'clowns', 'mice'] },
  bone: { values: ['the left arm', 'the right leg', 'the left wrist', 'the nose', 'a collarbone', 'the right ankle', 'two ribs', 'a thumb'] },
  bedtime: { values: ['nine o\'clock', 'half past nine', 'ten o\'clock', 'half past ten', 'eleven o\'clock', 'midnight'] },
  wake_time: { values: ['five o\'clock', 'half past five', 'six o\'clock', 'half past six', 'seven o\'clock', 'eight o\'clock'] },
  instrument: { values: ['piano', 'violin', 'guitar', 'flute', 'drums', 'cello', 'trumpet', 'harp', 'banjo', 'clarinet'] },
  band: { values: ['The Paper Boats', 'Silver Fox', 'The Lamplighters', 'Northern Lights', 'The Tin Cups', 'Velvet Moon', 'The Rain Birds', 'Copper Bell'] },
  song: { values: ['Blue River Road', 'Summer in the Hills', 'Under the Old Bridge', 'Dancing Rain', 'Home by Morning', 'The Last Train', 'Golden Fields', 'Little Paper Moon'] },
  book: { values: ['The Silver Lake', 'A Long Winter', 'The Clockmaker', 'The Lost Garden', 'Ships in the Night', 'The Quiet Hill', 'Seven Lanterns', 'The Fox and the Moon'] },
  film: { values: ['The Iron Island', 'Midnight Harbour', 'The Glass Tower', 'A Summer Storm', 'Far From Home', 'The Red Kite', 'Starlight Road', 'The Wide River'] },
  show: { values: ['Harbour Lights', 'Garden Hour', 'Kitchen Quest', 'The Night Shift', 'Village Vets', 'Quiz Town', 'Mountain Rescue', 'Sea Stories'] },
  flower: { values: ['roses', 'tulips', 'daisies', 'lilies', 'sunflowers', 'poppies', 'orchids', 'violets'] },
  animal: { values: ['elephant', 'otter', 'fox', 'owl', 'dolphin', 'tiger', 'badger', 'hedgehog', 'giraffe', 'penguin'] },
  bird: { values: ['robins', 'owls', 'sparrows', 'blackbirds', 'magpies', 'wrens', 'swallows', 'finches'] },
  lucky_number: { values: range(1, 99) },
  tattoo: { values: ['anchor', 'rose', 'swallow', 'star', 'wolf', 'heart', 'ship', 'owl'] },
  hat: { values: ['straw', 'wool', 'felt', 'tweed', 'bobble', 'sun', 'rain'] },
  smell: { values: ['fresh bread', 'cut grass', 'rain', 'coffee', 'pine trees', 'sea air', 'wood smoke', 'lavender'] },
  talent: { values: ['juggling', 'whistling', 'card tricks', 'yodelling', 'bird calls', 'speed reading', 'tap dancing', 'drawing faces'] },
};

/** Draw one value from a pool. */
export function drawValue(pool: Pool, rng: Rng): string {
  if (pool.values) return rng.pick(pool.values);
  return pool.gen!(rng);
}

/** Draw `k` distinct values of the pool, all different from `exclude`. */
export function drawOthers(pool: Pool, rng: Rng, exclude: string, k: number): string[] {
  const out: string[] = [];
  if (pool.values) {
    const cands = pool.values.filter((v) => v !== exclude);
    if (cands.length < k) throw new RangeError(`pool has ${cands.length} other values, need ${k}`);
    const shuffled = rng.shuffle([...cands]);
    return shuffled.slice(0, k);
  }
  let guard = 0;
  while (out.length < k) {
    const v = pool.gen!(rng);
    if (v !== exclude && !out.includes(v)) out.push(v);
    if (++guard > 10000) throw new RangeError('drawOthers: generator does not produce enough distinct values');
  }
  return out;
}
